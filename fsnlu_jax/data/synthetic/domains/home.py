"""The smart home: lights, the thermostat, appliances.

The most confusable domains of the corpus: "set the bedroom lights to 50%"
dims or brightens depending on the value, "set the lights to blue" changes the
colour, "turn on the dishwasher at 9 pm" schedules rather than switches.
"""

from __future__ import annotations

from fsnlu_jax.data.synthetic.spec import domain

LIGHTS = domain(
    "lights",
    words={
        "lights": ("lights", "lamps", "light", "lighting"),
        "turn_on": ("turn on", "switch on", "put on"),
        "turn_off": ("turn off", "switch off", "shut off", "kill"),
    },
    intents={
        "lights_on": """
            {cmd} {turn_on} the {lights} {in_room}
            {cmd} turn the <room> {lights} on
            {hi} {lights} on {in_room}
            {cmd} light up the <room>
            {hi} it's dark in the <room>
            {cmd} {turn_on} the <room> lamp
            {want} turn the {lights} on {in_room}
            {cmd} {turn_on} all the {lights}
            {hi} i can't see anything {in_room} , {turn_on} the {lights}
        """,
        "lights_off": """
            {cmd} {turn_off} the {lights} {in_room}
            {cmd} turn the <room> {lights} off
            {hi} {lights} off {in_room}
            {hi} i'm going to bed , {turn_off} the <room> {lights}
            {cmd} {turn_off} the <room> lamp
            {want} turn the {lights} off {in_room}
            {cmd} {turn_off} all the {lights}
            {hi} nobody's in the <room> , {lights} off
            {cmd} make it dark in the <room>
        """,
        "lights_dim": """
            {cmd} dim the {lights} {in_room}
            {cmd} dim the <room> {lights} to <level>
            {cmd} turn down the {lights} {in_room}
            {cmd} lower the brightness {in_room} to <level>
            {hi} the {lights} are too bright {in_room}
            {cmd} make it darker in the <room>
            {cmd} set the <room> {lights} to <level>
            {want} dim the {lights} a bit {in_room}
            {cmd} turn the <room> {lights} down to <level>
            {hi} {lights} down {in_room}
        """,
        "lights_brighten": """
            {cmd} brighten the {lights} {in_room}
            {cmd} turn up the {lights} {in_room}
            {cmd} raise the <room> {lights} to <level>
            {cmd} increase the brightness {in_room} to <level>
            {hi} it's too dark {in_room}
            {cmd} make it brighter in the <room>
            {cmd} set the brightness {in_room} to <level>
            {want} brighten the {lights} a bit {in_room}
            {cmd} turn the <room> {lights} up to <level>
            {hi} {lights} up {in_room}
        """,
        "lights_color": """
            {cmd} change the {lights} to <color>
            {cmd} make the <room> {lights} <color>
            {cmd} set the {lights} {in_room} to <color>
            {cmd} turn the {lights} <color> {in_room}
            {want} change the color of the <room> {lights}
            {cmd} switch the <room> lamp to <color>
            {hi} i'd like <color> {lights} {in_room}
            {cmd} change the light color to <color> {in_room}
            {cmd} set the mood with <color> {lights}
            {cmd} turn the <room> <color>
        """,
    })

THERMOSTAT = domain(
    "thermostat",
    words={
        "heat": ("heat", "heating", "temperature", "thermostat", "ac"),
        "warmer": ("warmer", "hotter", "a bit warmer"),
        "cooler": ("cooler", "colder", "a bit cooler"),
        "at_time": ("", "", "at <time>"),
    },
    intents={
        "thermostat_set": """
            {cmd} set the temperature to <temperature> {at_time}
            {cmd} set the thermostat to <temperature> {in_room}
            {cmd} make it <temperature> {in_room}
            {want} set the {heat} to <temperature>
            {cmd} put the thermostat on <temperature>
            {cmd} change the temperature {in_room} to <temperature>
            {hi} i want it <temperature> in here
            {cmd} set the <room> to <temperature>
            {cmd} keep the house at <temperature>
            {cmd} set the ac to <temperature> {at_time}
        """,
        "thermostat_raise": """
            {cmd} turn up the {heat}
            {cmd} raise the temperature by <temperature_change>
            {cmd} make it {warmer} {in_room}
            {hi} it's cold in here
            {cmd} turn the thermostat up <temperature_change>
            {cmd} increase the temperature {in_room}
            {cmd} bump the {heat} up <temperature_change>
            {hi} i'm freezing , turn it up
            {want} warm up the <room>
            {cmd} raise the thermostat {in_room}
        """,
        "thermostat_lower": """
            {cmd} turn down the {heat}
            {cmd} lower the temperature by <temperature_change>
            {cmd} make it {cooler} {in_room}
            {hi} it's too hot in here
            {cmd} turn the thermostat down <temperature_change>
            {cmd} decrease the temperature {in_room}
            {cmd} drop the {heat} <temperature_change>
            {hi} i'm sweating , turn it down
            {want} cool down the <room>
            {cmd} lower the thermostat {in_room}
        """,
        "thermostat_query": """
            {hi} what's the temperature in the house {q}
            {hi} what's the thermostat set to {q}
            {hi} how warm is it {in_room} {q}
            {hi} what temperature is it {in_room} {q}
            {hi} {tell} the indoor temperature
            {hi} is the {heat} on {q}
            {hi} what mode is the thermostat in {q}
            {hi} is the <room> warm enough {q}
            {cmd} check the thermostat {in_room}
            {hi} how cold is it inside {q}
        """,
        "thermostat_mode": """
            {cmd} set the thermostat to <mode> mode
            {cmd} switch to <mode> mode {at_time}
            {cmd} turn on <mode> mode
            {cmd} change the thermostat mode to <mode>
            {cmd} put the ac in <mode> mode
            {want} use <mode> mode {in_room}
            {cmd} set the hvac to <mode>
            {hi} we're leaving , switch the thermostat to <mode>
            {cmd} change the {heat} to <mode>
            {cmd} turn the thermostat to <mode> {at_time}
        """,
    })

APPLIANCE = domain(
    "appliance",
    words={
        "turn_on": ("turn on", "switch on", "start", "power on", "fire up", "run"),
        "turn_off": ("turn off", "switch off", "stop", "power down", "shut off"),
        "the_device": ("the <device>", "the <room> <device>", "my <device>"),
    },
    intents={
        "appliance_turn_on": """
            {cmd} {turn_on} {the_device}
            {cmd} {turn_on} the <device> {in_room}
            {want} turn {the_device} on
            {cmd} {turn_on} {the_device} now
            {hi} <device> on
            {cmd} turn the <room> <device> on
            {hi} it's time , {turn_on} {the_device}
            {cmd} get {the_device} going
            {cmd} {turn_on} {the_device} for me
        """,
        "appliance_turn_off": """
            {cmd} {turn_off} {the_device}
            {cmd} {turn_off} the <device> {in_room}
            {want} turn {the_device} off
            {cmd} {turn_off} {the_device} now
            {hi} <device> off
            {cmd} turn the <room> <device> off
            {hi} {the_device} is still running , turn it off
            {cmd} shut down {the_device}
            {cmd} {turn_off} {the_device} for me
        """,
        "appliance_status": """
            {hi} is {the_device} on {q}
            {hi} is {the_device} still running {q}
            {hi} did i leave {the_device} on {q}
            {hi} what's the status of {the_device} {q}
            {cmd} check {the_device}
            {hi} how long until {the_device} is done {q}
            {hi} is the <device> in the <room> off {q}
            {hi} has {the_device} finished {q}
            {hi} {tell} if {the_device} is running
        """,
        "appliance_schedule": """
            {cmd} {turn_on} {the_device} at <time> {on_date}
            {cmd} schedule {the_device} for <time> {on_date}
            {cmd} {turn_off} {the_device} in <duration>
            {cmd} set {the_device} to run at <time> every day
            {want} schedule {the_device} {on_date} at <time>
            {cmd} have {the_device} start <date> at <time>
            {cmd} {turn_off} {the_device} at <time>
            {cmd} put {the_device} on a timer for <duration>
            {cmd} {turn_on} {the_device} in <duration>
        """,
    })

DOMAINS = (LIGHTS, THERMOSTAT, APPLIANCE)
