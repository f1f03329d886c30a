"""Daily organisation: alarms, timers, reminders, the calendar, lists.

The intents of each domain share slot types (``time``, ``duration``,
``event``, ``item``) and verbs ("cancel", "change", "add"), so an intent is told
by the frame around the slots, not by one keyword.
"""

from __future__ import annotations

from fsnlu_jax.data.synthetic.spec import domain

ALARM = domain(
    "alarm",
    words={
        "set": ("set", "create", "make", "add", "put in", "schedule", "program", "start"),
        "an_alarm": ("an alarm", "a new alarm", "an alarm clock", "a wake up alarm",
                     "a wake-up call", "an alert"),
        "alarm": ("alarm", "alarm clock", "wake up alarm", "wake-up call"),
        "alarms": ("alarms", "alarm clocks", "wake up alarms", "alarms"),
        "remove": ("remove", "delete", "cancel", "turn off", "disable", "get rid of",
                   "clear", "switch off"),
        "wake": ("wake me up", "wake me", "get me up"),
        "change": ("change", "move", "reset", "push", "shift", "update", "adjust"),
        "snooze": ("snooze", "delay", "hold off", "postpone"),
    },
    intents={
        "alarm_set": """
            {cmd} {set} {an_alarm} for <time> {on_date}
            {hi} {wake} at <time> {on_date}
            {want} {set} {an_alarm} for <time>
            {hi} i need {an_alarm} at <time> {on_date}
            {cmd} {set} {my} {alarm} for <time> {on_date}
            {hi} {alarm} for <time> {on_date}
            {hi} make sure i'm up by <time> {on_date}
            {cmd} {set} {an_alarm} <date> at <time>
            {hi} i have to get up at <time> {on_date} , {set} {an_alarm}
            {hi} <date> at <time> {wake}
        """,
        "alarm_remove": """
            {cmd} {remove} {my} <time> {alarm}
            {cmd} {remove} {my} {alarm} for <time> {on_date}
            {cmd} {remove} all {my} {alarms}
            {hi} i don't need {my} <time> {alarm} anymore
            {want} {remove} {my} {alarm} for <date>
            {hi} no {alarm} <date>
            {cmd} {remove} the {alarm} i set for <time>
            {hi} i don't want to be woken up at <time> {on_date}
            {cmd} {remove} {my} {alarms} for <date>
            {hi} i'm off <date> , {remove} {my} {alarm}
        """,
        "alarm_query": """
            {hi} what {alarms} do i have {on_date} {q}
            {hi} {tell} what {alarms} are set {on_date}
            {hi} do i have {an_alarm} for <time> {on_date} {q}
            {hi} is there {an_alarm} set for <date> {q}
            {hi} what time is {my} {alarm} set for <date> {q}
            {hi} when is {my} next {alarm} {q}
            {cmd} list {my} {alarms} {on_date}
            {cmd} check {my} {alarms} for <date>
            {hi} did i set {an_alarm} for <time> {q}
            {hi} how many {alarms} do i have {on_date} {q}
            {hi} {tell} when {my} {alarm} goes off {on_date}
        """,
        "alarm_snooze": """
            {cmd} {snooze} {my} {alarm}
            {cmd} {snooze} {my} {alarm} for <duration>
            {hi} give me <duration> more
            {hi} {snooze} for <duration>
            {hi} let me sleep for another <duration>
            {cmd} {wake} again in <duration>
            {hi} not yet , {snooze} it
            {cmd} hit snooze
            {cmd} {snooze} {my} {alarm} until <time>
            {hi} too early , {snooze} {my} {alarm}
        """,
        "alarm_change": """
            {cmd} {change} {my} <time> {alarm} to <new_time>
            {cmd} {change} {my} {alarm} from <time> to <new_time>
            {cmd} {change} {my} {alarm} to <new_time>
            {hi} {change} {my} {alarm} for <date> to <new_time>
            {hi} i want {my} <time> {alarm} at <new_time> instead
            {cmd} make {my} {alarm} <new_time> instead of <time>
            {want} {change} the time of {my} {alarm}
            {cmd} {change} {my} wake up time to <new_time> {on_date}
            {hi} can the <time> {alarm} be <new_time> instead {q}
            {cmd} set {my} <date> {alarm} to <new_time> instead
        """,
    })

TIMER = domain(
    "timer",
    words={
        "start": ("set", "start", "begin", "run", "put on", "kick off", "make"),
        "a_timer": ("a timer", "a countdown", "a new timer", "a kitchen timer"),
        "timer": ("timer", "countdown", "kitchen timer", "timer"),
        "timers": ("timers", "countdowns"),
        "cancel": ("cancel", "stop", "delete", "end", "kill", "turn off", "clear",
                   "remove"),
        "pause": ("pause", "hold", "freeze", "suspend"),
        "extend": ("extend", "lengthen", "increase", "bump up"),
        "on_timer": ("", "on the timer", "on my timer", "on the countdown"),
    },
    intents={
        "timer_start": """
            {cmd} {start} {a_timer} for <duration>
            {hi} <duration> {timer}
            {hi} {start} <duration> on the clock
            {cmd} count down <duration>
            {want} {start} {a_timer} for <duration>
            {cmd} time <duration> for me
            {hi} {a_timer} for <duration>
            {hi} let me know when <duration> is up
            {cmd} alert me in <duration>
            {cmd} {start} {my} <duration> {timer}
        """,
        "timer_cancel": """
            {cmd} {cancel} {my} {timer}
            {cmd} {cancel} the <duration> {timer}
            {cmd} {cancel} all {my} {timers}
            {hi} i don't need the {timer} anymore
            {hi} never mind the {timer}
            {cmd} {cancel} the {timer} i set for <duration>
            {want} {cancel} {my} {timer}
            {hi} get rid of the <duration> countdown
            {cmd} {cancel} the {timer} that's running
            {hi} {timer} off
        """,
        "timer_query": """
            {hi} how much time is left {on_timer} {q}
            {hi} how long until {my} {timer} goes off {q}
            {hi} {tell} how much time is left on the <duration> {timer}
            {hi} what's left on {my} {timer} {q}
            {hi} is {my} {timer} still running {q}
            {hi} how many minutes are left {on_timer} {q}
            {cmd} check {my} {timer}
            {hi} when will {my} {timer} be done {q}
            {hi} do i have any {timers} running {q}
            {hi} {tell} the time remaining on {my} {timer}
        """,
        "timer_pause": """
            {cmd} {pause} {my} {timer}
            {cmd} {pause} the <duration> {timer}
            {hi} {pause} the countdown for a second
            {hi} hold on , {pause} {my} {timer}
            {cmd} stop the clock for now
            {want} {pause} {my} {timer}
            {hi} put {my} {timer} on hold
            {cmd} {pause} the {timer} , i'll be right back
            {cmd} {pause} {my} {timer} for <duration>
            {hi} {timer} , {pause}
        """,
        "timer_add_time": """
            {cmd} add <duration> to {my} {timer}
            {cmd} {extend} {my} {timer} by <duration>
            {hi} give {my} {timer} another <duration>
            {hi} put <duration> more on the {timer}
            {hi} <duration> more on the {timer}
            {want} add <duration> to the countdown
            {cmd} {extend} the <duration> {timer}
            {hi} {my} {timer} needs <duration> more
            {cmd} add another <duration> {on_timer}
            {cmd} make {my} {timer} <duration> longer
        """,
    })

REMINDER = domain(
    "reminder",
    words={
        "remind": ("remind me", "ping me", "nudge me", "alert me", "give me a reminder"),
        "reminder": ("reminder", "reminder", "alert", "note"),
        "reminders": ("reminders", "reminders", "alerts"),
        "a_reminder": ("a reminder", "a new reminder", "an alert"),
        "set": ("set", "create", "make", "add", "schedule", "put in"),
        "move": ("move", "reschedule", "change", "shift", "push"),
        "at_when": ("", "at <time>", "<date>", "<date> at <time>", "in <duration>",
                    "at <time> <date>", "on <date>"),
    },
    intents={
        "reminder_set": """
            {cmd} {remind} to <task> {at_when}
            {hi} {remind} to <task> {at_when}
            {cmd} {set} {a_reminder} to <task> {at_when}
            {want} {set} {a_reminder} for <date> to <task>
            {hi} don't let me forget to <task> {at_when}
            {cmd} {set} {a_reminder} : <task> {at_when}
            {hi} i need to <task> {at_when} , {remind}
            {cmd} make a note to <task> {at_when}
            {hi} {at_when} {remind} to <task>
            {cmd} add <task> to {my} {reminders} {at_when}
        """,
        "reminder_remove": """
            {cmd} {remove} {my} {reminder} to <task>
            {cmd} {remove} the {reminder} about <task>
            {hi} i already did it , {remove} the {reminder} to <task>
            {cmd} {remove} all {my} {reminders} {for_date}
            {hi} i don't need {a_reminder} to <task> anymore
            {want} {remove} {a_reminder}
            {cmd} {remove} the <time> {reminder}
            {hi} no need to {remind} to <task>
            {cmd} clear {my} {reminders} for <date>
            {cmd} {remove} {my} {reminder} for <date> at <time>
        """,
        "reminder_query": """
            {hi} what {reminders} do i have {for_date} {q}
            {hi} {tell} {my} {reminders} {for_date}
            {hi} do i have {a_reminder} to <task> {q}
            {hi} when did i ask you to {remind} to <task> {q}
            {cmd} read {my} {reminders} {for_date}
            {hi} what did i need to remember {for_date} {q}
            {hi} is there {a_reminder} for <time> {q}
            {cmd} list all {my} {reminders} {for_date}
            {hi} any {reminders} {for_date} {q}
            {hi} what was {my} {reminder} at <time> about {q}
        """,
        "reminder_move": """
            {cmd} {move} {my} {reminder} about <task> to <new_date>
            {cmd} {move} the <time> {reminder} to <new_time>
            {hi} {remind} to <task> at <new_time> instead
            {cmd} push {my} {reminder} back by <duration>
            {want} {move} {a_reminder} to <new_date>
            {cmd} {move} {my} {reminder} from <date> to <new_date>
            {hi} can you {remind} later , like at <new_time> {q}
            {cmd} postpone {my} {reminder} to <task> until <new_date>
            {cmd} change the time of {my} {reminder} to <new_time>
            {hi} {remind} about <task> <new_date> instead
        """,
    })

CALENDAR = domain(
    "calendar",
    words={
        "event": ("meeting", "appointment", "event", "calendar entry"),
        "an_event": ("a meeting", "an appointment", "an event", "a new event"),
        "calendar": ("calendar", "schedule", "agenda", "diary"),
        "add": ("add", "put", "schedule", "book", "create", "set up", "pencil in"),
        "move": ("move", "reschedule", "push", "shift", "change"),
        "to_cal": ("", "to my {calendar}", "on my {calendar}", "in my {calendar}"),
        "when": ("<date>", "at <time>", "<date> at <time>", "on <date> at <time>",
                 "<date> from <time> to <end_time>", ""),
    },
    intents={
        "calendar_add": """
            {cmd} {add} <event> {to_cal} {when}
            {want} {add} {an_event} for <date>
            {cmd} {add} {an_event} with <person> {when}
            {hi} i have <event> {when} , {add} it {to_cal}
            {cmd} {add} <event> {when}
            {hi} new {event} {when}
            {cmd} block off <date> at <time> for <event>
            {cmd} {add} <event> with <person> {to_cal}
            {hi} make sure <event> is on my {calendar} for <date>
            {cmd} create {an_event} called <event> {when}
        """,
        "calendar_remove": """
            {cmd} {remove} <event> from {my} {calendar}
            {cmd} {remove} {my} <event> {when}
            {hi} <event> {when} is cancelled
            {cmd} {remove} {my} {event} with <person> {when}
            {want} {remove} {an_event} {when}
            {hi} i'm not going to <event> anymore , take it off {my} {calendar}
            {cmd} clear {my} {calendar} for <date>
            {cmd} {remove} everything on <date>
            {hi} {remove} the <time> {event} {for_date}
            {cmd} take <event> off {my} {calendar}
        """,
        "calendar_query": """
            {hi} what's on {my} {calendar} {for_date} {q}
            {hi} what do i have {for_date} {q}
            {hi} {tell} {my} {calendar} for <date>
            {hi} when is {my} <event> {q}
            {hi} do i have anything at <time> <date> {q}
            {hi} am i free <date> at <time> {q}
            {hi} when am i meeting <person> {q}
            {cmd} read {my} {calendar} for <date>
            {hi} do i have <event> {when} {q}
            {hi} what's my first {event} <date> {q}
            {hi} is <event> still on {for_date} {q}
        """,
        "calendar_move": """
            {cmd} {move} <event> to <new_date>
            {cmd} {move} {my} <event> from <date> to <new_date>
            {cmd} {move} {my} <time> {event} to <new_time>
            {hi} push <event> to <new_date> at <new_time>
            {want} {move} {my} {event} with <person>
            {cmd} {move} {my} {event} with <person> to <new_date>
            {hi} can we do <event> at <new_time> instead {q}
            {cmd} change the time of <event> to <new_time>
            {cmd} postpone <event> until <new_date>
            {hi} <event> is now on <new_date> , update {my} {calendar}
        """,
        "calendar_invite": """
            {cmd} invite <person> to <event>
            {cmd} add <person> to {my} <event> {when}
            {cmd} send <person> an invite for <event>
            {want} invite <person> to {my} {event} {when}
            {cmd} include <person> in <event>
            {cmd} share <event> with <person>
            {hi} make sure <person> gets an invitation to <event>
            {cmd} invite <person> and <person> to <event>
            {cmd} send an invite to <person> for {my} <time> {event}
            {hi} <person> should join <event> {when} , invite them
        """,
    })

LISTS = domain(
    "lists",
    words={
        "add": ("add", "put", "throw", "stick", "include", "write down"),
        "list_of": ("{my} <list_name> list", "the <list_name> list", "{my} list"),
        "create": ("create", "make", "start", "set up", "open"),
        "delete": ("delete", "get rid of", "erase", "trash", "remove"),
    },
    intents={
        "lists_add_item": """
            {cmd} {add} <item> to {list_of}
            {cmd} {add} <item> and <item> to {list_of}
            {hi} we need <item> , {add} it to {list_of}
            {hi} <list_name> list : <item>
            {want} {add} <item> to {list_of}
            {hi} put <item> on {list_of}
            {hi} we're out of <item>
            {cmd} write <item> on {list_of}
            {hi} don't let me forget <item> , {add} it to {list_of}
            {cmd} {add} <item> to my <list_name> list {for_date}
        """,
        "lists_remove_item": """
            {cmd} {remove} <item> from {list_of}
            {cmd} take <item> off {list_of}
            {hi} i already bought <item> , {remove} it from {list_of}
            {cmd} cross <item> off {list_of}
            {hi} we don't need <item> anymore
            {want} {remove} <item> from {list_of}
            {hi} <item> is done , check it off
            {cmd} {remove} <item> and <item> from {list_of}
            {hi} scratch <item> from {list_of}
        """,
        "lists_read": """
            {hi} what's on {list_of} {q}
            {cmd} read {list_of}
            {hi} {tell} what's on {list_of}
            {hi} is <item> on {list_of} {q}
            {cmd} show me {list_of}
            {hi} how many items are on {list_of} {q}
            {hi} did i {add} <item> to {list_of} {q}
            {hi} what do i still need from {list_of} {q}
            {cmd} go through {list_of}
        """,
        "lists_create": """
            {cmd} {create} a new list called <list_name>
            {cmd} {create} a <list_name> list
            {want} {create} a list for <list_name>
            {hi} new list : <list_name>
            {cmd} {create} a <list_name> list for me
            {hi} i need a new <list_name> list
            {cmd} {create} a <list_name> list with <item> on it
            {cmd} {create} a new list named <list_name>
            {hi} let's {create} a <list_name> list
        """,
        "lists_delete": """
            {cmd} {delete} {list_of}
            {cmd} {delete} the whole <list_name> list
            {hi} i'm done with {list_of} , {delete} it
            {cmd} clear everything from {list_of}
            {want} {delete} a list
            {want} {delete} {list_of}
            {hi} throw away the <list_name> list
            {cmd} empty {list_of}
            {hi} we don't need the <list_name> list anymore , {delete} it
        """,
    })

DOMAINS = (ALARM, TIMER, REMINDER, CALENDAR, LISTS)
