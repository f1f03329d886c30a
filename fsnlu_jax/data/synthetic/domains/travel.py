"""Getting somewhere: flights, hotels and directions.

Flight intents all name cities, airlines and flight numbers; hotel intents
share hotels, cities and nights ("book three nights more" extends a stay);
navigation intents share the origin and destination.
"""

from __future__ import annotations

from fsnlu_jax.data.synthetic.spec import domain

FLIGHT = domain(
    "flight",
    words={
        "flight": ("flight", "plane ticket", "trip"),
        "book": ("book", "reserve", "get", "buy"),
        "on_airline": ("", "on <airline>", "with <airline>"),
    },
    intents={
        "flight_book": """
            {cmd} {book} a {flight} from <from_city> to <to_city> {on_date}
            {cmd} {book} me a {flight} to <to_city> {on_date}
            {want} fly to <to_city> {on_date} {on_airline}
            {cmd} get me a ticket to <to_city> {on_airline}
            {cmd} reserve a seat on the <airline> flight to <to_city>
            {want} {book} a {flight} with <airline> from <from_city> to <to_city>
            {hi} i need to be in <to_city> <date> , {book} a {flight}
            {cmd} {book} a round trip to <to_city> from <from_city>
            {cmd} find and {book} a {flight} to <to_city> for <date>
        """,
        "flight_cancel": """
            {cmd} cancel my {flight} to <to_city>
            {cmd} cancel my <airline> flight {on_date}
            {cmd} cancel flight <flight_number>
            {want} cancel my {flight} to <to_city> {on_date}
            {hi} i'm not flying to <to_city> anymore , cancel it
            {cmd} cancel my booking from <from_city> to <to_city>
            {cmd} get me a refund for my {flight} to <to_city>
            {cmd} cancel my reservation on <flight_number>
            {cmd} drop my {flight} on <date>
        """,
        "flight_status": """
            {hi} is flight <flight_number> on time {q}
            {hi} is my {flight} to <to_city> delayed {q}
            {hi} what's the status of <flight_number> {q}
            {hi} when does my flight to <to_city> leave {q}
            {hi} has <flight_number> landed {q}
            {hi} what time does the <airline> flight from <from_city> arrive {q}
            {cmd} check the status of my flight {on_date}
            {hi} which gate is <flight_number> at {q}
            {hi} is my <airline> flight on schedule {q}
        """,
        "flight_check_in": """
            {cmd} check me in for my flight {on_date}
            {cmd} check in for <flight_number>
            {cmd} check me in for my flight to <to_city>
            {want} check in for my <airline> flight
            {cmd} get my boarding pass for <flight_number>
            {cmd} do online check in for my flight {on_date}
            {hi} it's time to check in for <to_city> , do it
            {cmd} send me the boarding pass for my flight to <to_city>
            {cmd} pick a window seat and check me in {on_airline}
        """,
        "flight_price": """
            {hi} how much is a {flight} to <to_city> {q}
            {hi} what's the cheapest flight from <from_city> to <to_city> {q}
            {hi} how much does it cost to fly to <to_city> {on_date} {q}
            {cmd} find flights to <to_city> under <amount>
            {hi} what are fares like to <to_city> {on_date} {q}
            {cmd} compare prices for flights to <to_city> {on_date}
            {hi} is <airline> cheaper than <airline> to <to_city> {q}
            {cmd} show me flight prices from <from_city> to <to_city>
            {hi} how much is a ticket to <to_city> on <airline> {q}
        """,
    })

HOTEL = domain(
    "hotel",
    words={
        "room": ("room", "hotel room", "hotel", "place"),
        "booking": ("booking", "reservation", "room"),
        "for_nights": ("", "for <nights>"),
    },
    intents={
        "hotel_book": """
            {cmd} book a room at <hotel> {for_nights}
            {cmd} book a hotel in <city> for <nights>
            {want} reserve a {room} in <city> {on_date}
            {cmd} get me a room at <hotel> in <city>
            {cmd} make a reservation at <hotel> for <date>
            {hi} i need a place to stay in <city> for <nights>
            {cmd} reserve <hotel> for <nights> starting <date>
            {cmd} book me into <hotel> {for_nights}
            {cmd} book a double room in <city> {on_date}
        """,
        "hotel_cancel": """
            {cmd} cancel my {booking} at <hotel>
            {cmd} cancel my hotel reservation in <city>
            {want} cancel my {booking} at <hotel>
            {cmd} cancel the hotel for <date>
            {hi} i won't need the room at <hotel> , cancel it
            {cmd} call off my stay in <city>
            {cmd} cancel my hotel {on_date}
            {cmd} drop my {booking} at <hotel> for <nights>
            {hi} get me a refund for my {room} in <city>
        """,
        "hotel_search": """
            {cmd} find a hotel in <city>
            {hi} what hotels are there in <city> {q}
            {cmd} show me hotels near <location>
            {hi} are there any cheap hotels in <city> {q}
            {cmd} search for hotels in <city> {on_date}
            {cmd} look for a {room} in <city> for <nights>
            {hi} where can i stay in <city> {q}
            {cmd} find hotels with <amenity> in <city>
            {hi} which hotels in <city> have rooms {on_date} {q}
        """,
        "hotel_extend_stay": """
            {cmd} extend my stay at <hotel> by <nights>
            {cmd} add <nights> to my hotel {booking}
            {want} stay <nights> longer
            {hi} can i keep my room at <hotel> until <date> {q}
            {cmd} extend my {booking} in <city> {for_nights}
            {cmd} book <nights> more at <hotel>
            {hi} i want to check out on <date> instead
            {cmd} push back my checkout to <date>
            {cmd} make my stay at <hotel> longer
        """,
        "hotel_amenities": """
            {hi} does <hotel> have <amenity> {q}
            {hi} is there <amenity> at <hotel> {q}
            {hi} does my hotel offer <amenity> {q}
            {hi} what amenities does <hotel> have {q}
            {hi} is <amenity> included at <hotel> {q}
            {hi} does the hotel in <city> have <amenity> {q}
            {hi} {tell} if <hotel> has <amenity>
            {hi} can i get <amenity> at my hotel {q}
            {hi} is <amenity> free at <hotel> {q}
        """,
    })

NAVIGATION = domain(
    "navigation",
    words={
        "by_mode": ("", "", "by <transport_mode>"),
        "get_to": ("get to", "reach", "make it to"),
        "a_place": ("a <place_type>", "the nearest <place_type>", "any <place_type>"),
    },
    intents={
        "navigation_directions": """
            {cmd} give me directions to <destination> {by_mode}
            {hi} how do i {get_to} <destination> {by_mode} {q}
            {cmd} navigate to <destination>
            {cmd} take me to <destination>
            {cmd} show me the way from <origin> to <destination>
            {hi} what's the best route to <destination> {by_mode} {q}
            {cmd} get directions to <destination> {by_mode}
            {want} go to <destination>
            {cmd} route me to <destination> avoiding tolls
        """,
        "navigation_traffic": """
            {hi} how's the traffic to <destination> {q}
            {hi} is there traffic on the way to <destination> {q}
            {hi} what's traffic like right now {q}
            {hi} are there any accidents on my route {q}
            {hi} is the road to <destination> congested {q}
            {cmd} check traffic between <origin> and <destination>
            {hi} any delays on the way to <destination> {q}
            {hi} is traffic bad near <destination> {q}
            {hi} {tell} about traffic on my commute
        """,
        "navigation_distance": """
            {hi} how far is <destination> {q}
            {hi} how far is it from <origin> to <destination> {q}
            {hi} what's the distance to <destination> {q}
            {hi} how many miles to <destination> {q}
            {hi} is <destination> far from here {q}
            {hi} how far away is <destination> from <origin> {q}
            {hi} how many kilometers is it to <destination> {q}
            {hi} is <destination> within walking distance {q}
            {hi} {tell} the distance between <origin> and <destination>
        """,
        "navigation_eta": """
            {hi} how long will it take to {get_to} <destination> {by_mode} {q}
            {hi} when will i arrive at <destination> {q}
            {hi} what's my eta {q}
            {hi} how long to <destination> {by_mode} {q}
            {hi} how long does it take from <origin> to <destination> {by_mode} {q}
            {hi} will i {get_to} <destination> by <time> {q}
            {hi} what time will i {get_to} <destination> {q}
            {hi} {tell} my arrival time at <destination>
            {hi} how many minutes until i {get_to} <destination> {q}
        """,
        "navigation_nearby": """
            {cmd} find {a_place} near me
            {hi} where's the nearest <place_type> {q}
            {hi} is there {a_place} nearby {q}
            {cmd} look for {a_place} around here
            {hi} any <place_type> close to <destination> {q}
            {cmd} find the closest <place_type>
            {hi} where can i find {a_place} {q}
            {cmd} take me to the nearest <place_type>
            {hi} i need {a_place} , what's nearby {q}
        """,
    })

DOMAINS = (FLIGHT, HOTEL, NAVIGATION)
