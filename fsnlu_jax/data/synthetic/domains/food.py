"""Eating: restaurants, food delivery and cooking.

Restaurant and delivery intents share restaurant names, dishes and cuisines;
cooking intents all name dishes and ingredients.
"""

from __future__ import annotations

from fsnlu_jax.data.synthetic.spec import domain

RESTAURANT = domain(
    "restaurant",
    words={
        "table": ("a table", "a reservation", "a spot", "seats"),
        "for_party": ("", "for <party_size>", "for <party_size> people"),
        "when": ("", "<date>", "at <time>", "<date> at <time>", "tonight at <time>"),
        "near": ("", "near me", "nearby", "in <city>", "around here"),
        "booking": ("reservation", "booking", "table"),
    },
    intents={
        "restaurant_book": """
            {cmd} book {table} at <restaurant> {for_party} {when}
            {cmd} reserve a table for <party_size> at <restaurant> {when}
            {want} make a reservation at <restaurant> {when}
            {cmd} get us {table} at <restaurant> {when}
            {cmd} book <restaurant> for <party_size> people <date>
            {hi} table for <party_size> at <restaurant> {when}
            {cmd} book a <cuisine> restaurant {for_party} {when}
            {cmd} reserve dinner at <restaurant> at <time>
            {hi} we'd like {table} at <restaurant> {when}
        """,
        "restaurant_cancel": """
            {cmd} cancel my {booking} at <restaurant>
            {cmd} cancel our table at <restaurant> {when}
            {want} cancel the {booking} at <restaurant>
            {hi} we can't make it to <restaurant> {when} , cancel it
            {cmd} cancel dinner at <restaurant> {when}
            {cmd} call off the {booking} for <party_size> {when}
            {cmd} cancel my <time> table
            {cmd} drop my {booking} at <restaurant>
            {hi} i need to cancel a {booking} {when}
        """,
        "restaurant_search": """
            {cmd} find a <cuisine> restaurant {near}
            {hi} where can i get good <dish> {near} {q}
            {hi} any good <cuisine> places {near} {q}
            {cmd} recommend a restaurant {near}
            {cmd} search for <cuisine> food {near}
            {hi} what restaurants are open {near} {q}
            {cmd} find me somewhere that serves <dish> {near}
            {hi} i'm craving <cuisine> , what's around {q}
            {cmd} show me <cuisine> restaurants in <city>
        """,
        "restaurant_reviews": """
            {hi} is <restaurant> any good {q}
            {hi} what do people say about <restaurant> {q}
            {cmd} show me reviews for <restaurant>
            {hi} how is the <dish> at <restaurant> {q}
            {hi} what's the rating of <restaurant> {q}
            {cmd} read me reviews of <restaurant>
            {hi} how many stars does <restaurant> have {q}
            {hi} is the <cuisine> place <restaurant> worth it {q}
            {hi} would you recommend <restaurant> {q}
        """,
        "restaurant_hours": """
            {hi} when does <restaurant> open {when} {q}
            {hi} what time does <restaurant> close {when} {q}
            {hi} is <restaurant> open {when} {q}
            {hi} what are the hours for <restaurant> {q}
            {hi} is <restaurant> open right now {q}
            {hi} how late is <restaurant> open {when} {q}
            {hi} is <restaurant> closed on <date> {q}
            {cmd} check the opening hours of <restaurant>
            {hi} can i still get in at <restaurant> at <time> {q}
        """,
    })

FOOD = domain(
    "food",
    words={
        "order": ("order", "get", "grab"),
        "delivery": ("delivery", "order", "food"),
        "from_place": ("", "from <restaurant>"),
    },
    intents={
        "food_order": """
            {cmd} {order} <dish> from <restaurant>
            {cmd} {order} me some <dish>
            {want} {order} <dish> for delivery
            {cmd} get <dish> delivered {from_place}
            {cmd} place an order for <dish> and <dish>
            {hi} i'm hungry , {order} <dish> {from_place}
            {cmd} get me <cuisine> food delivered
            {cmd} {order} <dish> from <restaurant> for pickup
            {want} get <dish> from <restaurant>
        """,
        "food_order_status": """
            {hi} where is my {delivery} {q}
            {hi} when will my <dish> arrive {q}
            {hi} how long until my food gets here {q}
            {cmd} track my {delivery} {from_place}
            {hi} has <restaurant> sent my order yet {q}
            {hi} is my food on the way {q}
            {hi} what's the status of my <dish> order {q}
            {cmd} check on my {delivery} {from_place}
            {hi} why is my order from <restaurant> late {q}
        """,
        "food_cancel_order": """
            {cmd} cancel my {delivery} {from_place}
            {cmd} cancel my <dish> order
            {cmd} cancel the order from <restaurant>
            {hi} i don't want the <dish> anymore , cancel it
            {want} cancel my {delivery}
            {cmd} stop my order from <restaurant>
            {cmd} call off the <dish> {from_place}
            {hi} never mind the food order {from_place}
            {cmd} cancel the <cuisine> order
        """,
        "food_reorder": """
            {cmd} {order} the same thing as last time {from_place}
            {cmd} reorder my last meal {from_place}
            {cmd} get me my usual from <restaurant>
            {cmd} {order} my usual {from_place}
            {cmd} repeat my last order from <restaurant>
            {want} get the same <dish> as last time
            {cmd} {order} again from <restaurant>
            {cmd} reorder the <dish> {from_place}
            {cmd} place my previous order again {from_place}
        """,
        "food_menu": """
            {hi} what's on the menu at <restaurant> {q}
            {hi} does <restaurant> have <dish> {q}
            {cmd} show me the menu for <restaurant>
            {hi} what does <restaurant> serve {q}
            {hi} how much is the <dish> at <restaurant> {q}
            {hi} does <restaurant> have vegetarian options {q}
            {cmd} read me the menu of <restaurant>
            {hi} what <cuisine> dishes does <restaurant> make {q}
            {hi} is there <dish> on the menu {from_place} {q}
        """,
    })

COOKING = domain(
    "cooking",
    words={
        "recipe": ("recipe", "way", "method"),
        "make": ("make", "cook", "prepare", "bake"),
    },
    intents={
        "cooking_recipe": """
            {cmd} find me a recipe for <dish>
            {hi} how do i {make} <dish> {q}
            {hi} how do you {make} <dish> {q}
            {cmd} show me a <cuisine> recipe
            {hi} what's a good {recipe} to {make} <dish> {q}
            {cmd} walk me through making <dish>
            {want} {make} <dish> {for_date}
            {cmd} give me an easy <dish> recipe
            {hi} i want to {make} <dish> , find a recipe
        """,
        "cooking_ingredients": """
            {hi} what do i need to {make} <dish> {q}
            {hi} what ingredients are in <dish> {q}
            {cmd} list the ingredients for <dish>
            {hi} does <dish> have <ingredient> in it {q}
            {hi} what goes into <dish> {q}
            {hi} how much <ingredient> do i need for <dish> {q}
            {hi} {tell} the ingredients for <dish>
            {hi} what should i buy to {make} <dish> {q}
            {hi} do i need <ingredient> for <dish> {q}
        """,
        "cooking_convert_units": """
            {hi} how many <to_unit> are in <number> <from_unit> {q}
            {cmd} convert <number> <from_unit> to <to_unit>
            {hi} how many <to_unit> make up <number> <from_unit> {q}
            {hi} what is <number> <from_unit> in <to_unit> {q}
            {hi} <number> <from_unit> of <ingredient> in <to_unit> {q}
            {cmd} change <number> <from_unit> to <to_unit>
            {hi} how much is <number> <from_unit> in <to_unit> {q}
            {hi} how many <to_unit> of <ingredient> is <number> <from_unit> {q}
            {cmd} convert this recipe from <from_unit> to <to_unit>
        """,
        "cooking_substitute": """
            {hi} what can i use instead of <ingredient> {q}
            {hi} what's a good substitute for <ingredient> {q}
            {hi} can i replace <ingredient> with <ingredient> {q}
            {hi} i'm out of <ingredient> , what can i use {q}
            {hi} can i use <ingredient> instead of <ingredient> in <dish> {q}
            {hi} what replaces <ingredient> in <dish> {q}
            {cmd} suggest a substitute for <ingredient>
            {hi} is there a vegan alternative to <ingredient> {q}
            {hi} can i {make} <dish> without <ingredient> {q}
        """,
        "cooking_nutrition": """
            {hi} how many calories are in <dish> {q}
            {hi} how much protein is in <dish> {q}
            {hi} is <dish> healthy {q}
            {hi} {tell} the nutrition facts for <dish>
            {hi} how much sugar does <dish> have {q}
            {hi} how many calories in a serving of <dish> {q}
            {hi} is <ingredient> high in fat {q}
            {hi} how many carbs are in <dish> {q}
            {hi} is <dish> gluten free {q}
        """,
    })

DOMAINS = (RESTAURANT, FOOD, COOKING)
