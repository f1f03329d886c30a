"""Slot value catalogues of the embedded corpus, hand-written, no downloads.

:data:`CATALOGUES` holds the value lists; :data:`SLOT_VALUES` maps every slot
type that templates may name (``<type>``) to its catalogue. Several slot types
share one catalogue when the role differs but the values do not (``from_city``
and ``to_city`` are both cities), because telling roles apart by context is part
of what a slot tagger must learn.

Values keep natural casing ("New York"); the tokenizer lower-cases, so a BIO
span's tokens equal ``tokenize(value)`` for the value that was drawn. Values
never contain possessive endings or other pieces that would merge with a
neighbouring word when tokenised.
"""

from __future__ import annotations

from typing import Mapping

CATALOGUES: Mapping[str, tuple[str, ...]] = {
    "time": (
        "6 am", "6:30 am", "7 am", "7:15 am", "7:45", "8 o'clock", "8:30", "9 pm",
        "10 pm", "10:30 pm", "11 pm", "midnight", "noon", "5am", "5:45am", "6pm",
        "half past six", "quarter to eight", "quarter past nine", "six thirty",
        "seven in the morning", "eight in the evening", "four in the afternoon",
        "1 pm", "2:30 pm", "3 pm", "4:15 pm", "5 pm", "5:30 pm", "12:30",
        "twenty past seven", "ten to six", "9:05 am", "11:20 am", "nine tonight",
    ),
    "date": (
        "today", "tomorrow", "the day after tomorrow", "monday", "tuesday",
        "wednesday", "thursday", "friday", "saturday", "sunday", "next monday",
        "next tuesday", "this friday", "this weekend", "next weekend", "next week",
        "march 3rd", "april 12th", "may 1st", "june 21st", "july 4th", "august 15th",
        "september 9th", "october 31st", "november 2nd", "december 24th",
        "january 7th", "february 14th", "the 5th", "the 20th", "new year's eve",
        "christmas day", "next thursday", "this sunday", "next month",
    ),
    "duration": (
        "five minutes", "10 minutes", "ten minutes", "15 minutes", "twenty minutes",
        "half an hour", "an hour", "one hour", "two hours", "90 seconds",
        "30 seconds", "forty five seconds", "three minutes", "one minute",
        "2 minutes", "25 minutes", "45 minutes", "an hour and a half",
        "one and a half hours", "3 hours", "seven minutes", "12 minutes",
        "a minute and a half", "eight minutes", "four hours", "six minutes",
        "40 minutes", "a quarter of an hour", "50 seconds", "100 minutes",
    ),
    "city": (
        "New York", "London", "Paris", "Tokyo", "Berlin", "Madrid", "Rome",
        "Chicago", "Boston", "Seattle", "San Francisco", "Los Angeles", "Miami",
        "Denver", "Austin", "Toronto", "Vancouver", "Montreal", "Mexico City",
        "Sao Paulo", "Buenos Aires", "Lisbon", "Dublin", "Amsterdam", "Brussels",
        "Vienna", "Prague", "Warsaw", "Stockholm", "Oslo", "Copenhagen", "Helsinki",
        "Athens", "Istanbul", "Cairo", "Nairobi", "Cape Town", "Dubai", "Mumbai",
        "Delhi", "Bangkok", "Singapore", "Hong Kong", "Seoul", "Sydney",
        "Melbourne", "Auckland",
    ),
    "person": (
        "Sarah", "John", "Mom", "Dad", "Alex", "Maria", "David", "Emma", "James",
        "Olivia", "Michael", "Sophia", "Daniel", "Grace", "Chris", "Priya", "Wei",
        "Ahmed", "Lucas", "Chloe", "Nina", "Omar", "Hannah", "Jack", "Laura",
        "Kevin", "Rachel", "Tom", "Anna", "Ben", "Jessica Lee", "Mark Johnson",
        "Aunt Linda", "Uncle Joe", "Grandma", "my sister", "my brother", "my boss",
        "Dr. Patel", "Fatima", "Carlos", "Yuki", "Ivan", "Zoe", "Sam",
    ),
    "artist": (
        "Taylor Swift", "Adele", "Drake", "Beyonce", "Ed Sheeran", "The Beatles",
        "Queen", "Coldplay", "Radiohead", "Billie Eilish", "Kendrick Lamar",
        "Rihanna", "Bruno Mars", "Daft Punk", "Miles Davis", "Nina Simone",
        "Bob Marley", "Fleetwood Mac", "Arctic Monkeys", "Dua Lipa", "The Weeknd",
        "Lady Gaga", "Elton John", "David Bowie", "Norah Jones", "Shakira",
        "Bad Bunny", "BTS", "Metallica", "Nirvana", "Frank Ocean", "SZA", "Lorde",
        "Harry Styles", "Stevie Wonder", "Aretha Franklin", "Johnny Cash",
        "Dolly Parton", "Kacey Musgraves", "Tame Impala",
    ),
    "song": (
        "Bohemian Rhapsody", "Hey Jude", "Shape of You", "Bad Guy",
        "Blinding Lights", "Rolling in the Deep", "Halo", "Yesterday", "Imagine",
        "Hotel California", "Dancing Queen", "Wonderwall", "Creep", "Yellow",
        "Clocks", "Levitating", "Smells Like Teen Spirit", "Billie Jean",
        "Thriller", "Purple Rain", "Like a Rolling Stone", "Respect", "Jolene",
        "Ring of Fire", "Superstition", "Take On Me", "Stairway to Heaven",
        "Let It Be", "Someone Like You", "Uptown Funk", "Bad Romance", "Anti-Hero",
        "Watermelon Sugar", "Hotline Bling", "Africa", "Heroes", "Space Oddity",
        "Three Little Birds", "Get Lucky", "Riptide", "Royals", "Hallelujah",
        "Viva la Vida", "Fix You",
    ),
    "playlist": (
        "workout", "chill vibes", "road trip", "focus", "party mix", "sleep",
        "morning coffee", "throwback", "rainy day", "dinner party", "study beats",
        "running", "summer hits", "favorites", "late night", "sunday morning",
        "cooking", "top tracks", "discover weekly", "wedding",
    ),
    "genre": (
        "jazz", "classical", "rock", "hip hop", "pop", "country", "blues", "reggae",
        "metal", "folk", "soul", "r&b", "electronic", "indie", "lo-fi", "punk",
        "disco", "k-pop", "funk", "ambient", "latin", "gospel",
    ),
    "podcast": (
        "The Daily", "Radiolab", "Serial", "This American Life", "Freakonomics",
        "Planet Money", "Hardcore History", "Stuff You Should Know",
        "The Joe Rogan Experience", "Hidden Brain", "99% Invisible", "Reply All",
        "How I Built This", "TED Radio Hour", "Science Vs", "Crime Junkie",
        "Up First", "Lex Fridman", "Making Sense", "The Moth",
        "Song Exploder", "Conan O'Brien Needs a Friend",
    ),
    "amount": (
        "$20", "$50", "$100", "$7.50", "25 dollars", "40 dollars",
        "two hundred dollars", "fifty bucks", "ten bucks", "£15", "£300",
        "30 pounds", "€60", "80 euros", "1,200 euros", "500 dollars",
        "1,000 dollars", "twelve dollars", "$35", "$250", "€5", "75 euros",
        "5,000 yen", "150 dollars", "$1,500", "twenty dollars", "a hundred dollars",
        "$9.99", "45 pounds", "600 euros", "eighty dollars", "$12", "$400",
        "3 dollars",
    ),
    "number": (
        "10", "20", "50", "100", "250", "500", "1,000", "2,500", "10,000", "75",
        "one hundred", "fifty", "twenty", "a thousand", "three hundred", "12", "35",
        "99", "1.5", "7.25", "400", "60", "8", "five", "two", "three",
    ),
    "currency": (
        "dollars", "us dollars", "euros", "british pounds", "pounds", "yen",
        "japanese yen", "swiss francs", "canadian dollars", "australian dollars",
        "mexican pesos", "indian rupees", "chinese yuan", "south korean won",
        "brazilian reais", "swedish krona", "norwegian kroner", "danish kroner",
        "polish zloty", "turkish lira", "south african rand", "new zealand dollars",
        "singapore dollars", "hong kong dollars", "thai baht", "bitcoin",
        "ethereum", "USD", "EUR", "GBP",
    ),
    "language": (
        "French", "Spanish", "German", "Italian", "Portuguese", "Japanese",
        "Chinese", "Mandarin", "Cantonese", "Korean", "Arabic", "Hindi", "Russian",
        "Dutch", "Swedish", "Greek", "Turkish", "Polish", "Vietnamese", "Thai",
        "Hebrew", "Swahili", "Indonesian", "Czech", "Finnish", "Norwegian",
        "Danish", "Hungarian", "Ukrainian", "Tagalog", "Bengali", "Urdu",
    ),
    "dish": (
        "pizza", "pad thai", "chicken tikka masala", "lasagna", "sushi", "ramen",
        "tacos", "burritos", "caesar salad", "pho", "beef stew", "mac and cheese",
        "chicken curry", "fried rice", "spaghetti carbonara", "risotto", "falafel",
        "hummus", "banana bread", "pancakes", "french toast",
        "chocolate chip cookies", "apple pie", "guacamole", "chili", "tomato soup",
        "fish and chips", "paella", "burgers", "dumplings", "shepherd's pie",
        "butter chicken", "green curry", "miso soup", "quiche", "cheesecake",
        "tiramisu", "lentil soup", "omelette", "brownies", "pesto pasta",
        "grilled salmon",
    ),
    "cuisine": (
        "italian", "thai", "mexican", "chinese", "japanese", "indian", "korean",
        "vietnamese", "greek", "french", "ethiopian", "lebanese", "spanish",
        "turkish", "american", "vegan", "vegetarian", "seafood", "bbq",
        "mediterranean", "peruvian",
    ),
    "restaurant": (
        "Luigi's", "The Golden Dragon", "Taco Loco", "Sakura Sushi", "Bella Napoli",
        "The Green Fork", "Spice Route", "Blue Door Bistro", "Pho Saigon",
        "Olive Garden", "Nando's", "Le Petit Cafe", "Burger Barn",
        "The Curry House", "Casa Maria", "Noodle Bar", "Seoul Kitchen",
        "Athena Grill", "The Oyster Club", "Mama's Kitchen", "Thai Orchid",
        "Dragon Palace", "Smokehouse BBQ", "La Piazza", "The Corner Diner",
    ),
    "device": (
        "tv", "television", "dishwasher", "washing machine", "dryer",
        "coffee maker", "kettle", "oven", "microwave", "air conditioner",
        "air purifier", "humidifier", "dehumidifier", "fan", "ceiling fan",
        "space heater", "robot vacuum", "vacuum", "sprinklers", "water heater",
        "slow cooker", "rice cooker", "speaker", "printer", "projector",
        "electric blanket", "hot tub", "pool pump",
    ),
    "room": (
        "kitchen", "living room", "bedroom", "master bedroom", "bathroom", "office",
        "study", "hallway", "garage", "basement", "attic", "dining room", "nursery",
        "guest room", "kids room", "porch", "patio", "laundry room", "den",
        "upstairs hallway", "front hall", "sunroom",
    ),
    "color": (
        "red", "blue", "green", "yellow", "purple", "orange", "pink", "white",
        "warm white", "cool white", "daylight", "teal", "turquoise", "lavender",
        "magenta", "cyan", "gold", "amber", "soft pink", "light blue", "deep red",
        "lime green",
    ),
    "level": (
        "10 percent", "20%", "25 percent", "30%", "40 percent", "50%", "half",
        "60 percent", "75%", "80 percent", "90%", "100 percent", "full brightness",
        "the lowest setting", "a quarter", "15 percent", "35%", "70 percent",
        "5 percent", "max",
    ),
    "temperature": (
        "68 degrees", "70 degrees", "72", "72 degrees", "seventy degrees",
        "65 degrees fahrenheit", "20 degrees", "21 degrees", "22 celsius",
        "19 degrees celsius", "23 degrees", "18 degrees", "75 degrees",
        "sixty eight", "twenty one degrees", "74 degrees", "66 degrees",
        "24 degrees", "25 degrees", "17 degrees", "69 degrees", "71 degrees",
        "seventy two degrees",
    ),
    "temperature_change": (
        "two degrees", "3 degrees", "a degree", "five degrees",
        "a couple of degrees", "1 degree", "half a degree", "4 degrees",
        "one degree", "2 degrees", "a few degrees", "three degrees",
    ),
    "mode": (
        "heat", "cool", "auto", "eco", "fan only", "dry", "away", "sleep",
        "heat cool", "emergency heat", "holiday", "energy saver",
    ),
    "airline": (
        "Delta", "United", "American Airlines", "Southwest", "JetBlue",
        "Alaska Airlines", "British Airways", "Lufthansa", "Air France", "KLM",
        "Emirates", "Qatar Airways", "Ryanair", "easyJet", "Air Canada", "Qantas",
        "Singapore Airlines", "Turkish Airlines", "Iberia", "Virgin Atlantic",
        "Aer Lingus",
    ),
    "flight_number": (
        "BA 117", "UA 930", "DL 404", "AA 100", "LH 400", "AF 22", "EK 202", "QF 1",
        "KL 641", "SQ 25", "UA 88", "DL 1776", "AC 850", "IB 6251", "VS 3",
        "FR 1234", "U2 8012", "TK 1", "QR 701", "BA 283",
    ),
    "hotel": (
        "the Hilton", "the Marriott", "the Ritz", "Holiday Inn", "the Hyatt Regency",
        "the Four Seasons", "the Sheraton", "Best Western", "the Westin",
        "the Grand Hotel", "the Plaza", "Hotel Europa", "the Radisson", "the Savoy",
        "Motel 6", "the Ace Hotel", "the Langham", "the Standard", "Hampton Inn",
        "the Fairmont", "the Park Hyatt", "the W Hotel",
    ),
    "nights": (
        "two nights", "three nights", "one night", "a night", "4 nights",
        "five nights", "a week", "the weekend", "ten nights", "2 nights",
        "six nights", "a couple of nights", "three days", "two weeks", "7 nights",
    ),
    "amenity": (
        "a pool", "free wifi", "parking", "a gym", "breakfast", "room service",
        "a spa", "an airport shuttle", "air conditioning", "pet friendly rooms",
        "a restaurant", "laundry service", "a sauna", "ev charging",
        "late checkout", "a hot tub",
    ),
    "party_size": (
        "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "2", "4", "6", "12", "fifteen", "eleven",
    ),
    "team": (
        "Lakers", "Warriors", "Celtics", "Yankees", "Red Sox", "Dodgers", "Patriots",
        "Chiefs", "Packers", "Cowboys", "Real Madrid", "Barcelona",
        "Manchester United", "Liverpool", "Arsenal", "Chelsea", "Bayern Munich",
        "Juventus", "PSG", "Maple Leafs", "Bruins", "Rangers", "Cubs", "Bulls",
        "Knicks", "Eagles", "Inter Miami", "AC Milan", "Ajax", "Seahawks",
    ),
    "player": (
        "LeBron James", "Stephen Curry", "Lionel Messi", "Cristiano Ronaldo",
        "Serena Williams", "Roger Federer", "Patrick Mahomes", "Tom Brady",
        "Shohei Ohtani", "Aaron Judge", "Kylian Mbappe", "Erling Haaland",
        "Connor McDavid", "Novak Djokovic", "Simone Biles",
        "Giannis Antetokounmpo", "Luka Doncic", "Mohamed Salah", "Harry Kane",
        "Caitlin Clark", "Kevin Durant", "Nikola Jokic", "Mookie Betts",
        "Travis Kelce", "Coco Gauff",
    ),
    "league": (
        "NBA", "NFL", "Premier League", "La Liga", "Champions League", "MLB", "NHL",
        "Serie A", "Bundesliga", "World Cup", "Formula 1", "MLS", "WNBA",
        "Wimbledon", "US Open", "Ligue 1",
    ),
    "company": (
        "Apple", "Microsoft", "Google", "Alphabet", "Amazon", "Tesla", "Nvidia",
        "Meta", "Netflix", "Disney", "Nike", "Coca-Cola", "Pepsi", "Boeing", "Intel",
        "AMD", "IBM", "Oracle", "Salesforce", "Adobe", "Spotify", "Uber", "Airbnb",
        "Starbucks", "Walmart", "Ford", "Toyota", "Samsung", "Sony", "JPMorgan",
        "Pfizer",
    ),
    "account": (
        "checking", "savings", "checking account", "savings account",
        "joint account", "business account", "current account", "holiday fund",
        "emergency fund", "brokerage account", "student account", "rainy day fund",
    ),
    "bill": (
        "electricity bill", "water bill", "gas bill", "phone bill", "internet bill",
        "rent", "credit card bill", "car insurance", "mortgage", "cable bill",
        "council tax", "gym membership", "student loan", "tuition", "trash bill",
    ),
    "card": (
        "debit card", "credit card", "visa", "visa card", "mastercard", "amex",
        "business card", "travel card", "gold card", "platinum card", "atm card",
        "prepaid card",
    ),
    "event": (
        "dentist appointment", "team meeting", "lunch with Sarah",
        "doctor's appointment", "yoga class", "haircut",
        "parent teacher conference", "project review", "coffee with Alex",
        "book club", "soccer practice", "job interview", "date night",
        "staff meeting", "standup", "piano lesson", "birthday party",
        "vet appointment", "gym session", "budget review", "one on one",
        "client call", "board meeting", "flight to Boston", "car service",
        "dinner with my parents", "study group", "conference call", "movie night",
        "farmers market",
    ),
    "task": (
        "take out the trash", "call mom", "pay rent", "water the plants",
        "pick up the kids", "buy milk", "take my medicine", "feed the cat",
        "walk the dog", "submit the report", "renew my passport", "book a haircut",
        "charge my phone", "check the oven", "send the invoice", "call the plumber",
        "pick up dry cleaning", "return the library books", "stretch",
        "drink water", "move the car", "email the landlord", "back up my laptop",
        "cancel the subscription", "buy a birthday gift",
        "schedule a dentist visit", "pack my gym bag", "lock the back door",
        "defrost the chicken", "pay the electricity bill",
    ),
    "item": (
        "milk", "eggs", "bread", "butter", "apples", "bananas", "coffee",
        "orange juice", "toilet paper", "paper towels", "dish soap",
        "laundry detergent", "rice", "pasta", "olive oil", "chicken breasts",
        "ground beef", "spinach", "tomatoes", "onions", "garlic", "cheddar cheese",
        "yogurt", "cereal", "peanut butter", "batteries", "light bulbs", "shampoo",
        "toothpaste", "trash bags", "avocados", "strawberries", "almond milk",
        "flour", "sugar", "salt", "ice cream", "dog food", "cat litter",
        "sparkling water",
    ),
    "list_name": (
        "shopping", "grocery", "to-do", "packing", "costco", "hardware store",
        "christmas gift", "weekend chores", "camping", "party supplies", "reading",
        "wedding", "work", "birthday", "pharmacy",
    ),
    "topic": (
        "politics", "technology", "science", "business", "economy",
        "climate change", "health", "sports", "entertainment", "world news",
        "stock market", "artificial intelligence", "space exploration",
        "elections", "local news", "education", "travel", "real estate",
        "crypto", "fashion",
    ),
    "news_source": (
        "the BBC", "CNN", "the New York Times", "Reuters", "NPR", "the Guardian",
        "Al Jazeera", "Bloomberg", "the Washington Post", "Fox News",
        "the Associated Press", "the Wall Street Journal", "Le Monde",
        "the Economist", "ABC News",
    ),
    "word": (
        "serendipity", "ubiquitous", "ephemeral", "quixotic", "gregarious",
        "ambiguous", "necessary", "conscientious", "entrepreneur", "rhythm",
        "onomatopoeia", "benevolent", "melancholy", "pragmatic", "resilient",
        "mischievous", "bourgeois", "colonel", "quinoa", "worcestershire",
        "acquiesce", "pneumonia", "facetious", "liaison", "perseverance",
        "eloquent", "cacophony", "juxtaposition", "nostalgia", "paradigm",
        "hyperbole", "epitome", "segue", "gnocchi", "croissant", "niche",
        "zeitgeist", "schadenfreude", "candid", "tenacious",
    ),
    "phrase": (
        "good morning", "thank you very much", "where is the train station",
        "how much does this cost", "i would like a coffee", "nice to meet you",
        "happy birthday", "i love you", "excuse me", "where is the bathroom",
        "the bill please", "see you tomorrow", "how are you", "i don't understand",
        "can you help me", "good night", "what time is it", "i am lost", "cheers",
        "welcome", "congratulations", "i am allergic to peanuts", "one beer please",
        "how do i get to the airport", "my name is anna", "goodbye",
        "do you speak english", "where can i buy a ticket", "it's raining",
        "have a nice day",
    ),
    "location": (
        "the airport", "downtown", "central station", "home", "work", "the office",
        "the mall", "the beach", "the stadium", "the hospital", "the library",
        "city hall", "union station", "the train station", "the zoo", "the museum",
        "grandma's house", "the university", "the park", "the gym", "my hotel",
        "the harbor", "the convention center", "times square",
        "golden gate bridge", "the bus station", "main street", "5th avenue",
        "the ferry terminal", "the city center",
    ),
    "place_type": (
        "gas station", "pharmacy", "coffee shop", "grocery store", "atm",
        "parking garage", "ev charger", "hospital", "post office", "bakery", "bank",
        "hardware store", "laundromat", "gym", "bookstore", "bar", "pizza place",
        "car wash", "vet", "public restroom", "bike shop", "dentist",
    ),
    "transport_mode": (
        "car", "bike", "bus", "train", "subway", "transit", "public transport",
        "taxi", "scooter", "ferry", "tram",
    ),
    "ingredient": (
        "butter", "eggs", "flour", "sugar", "buttermilk", "heavy cream",
        "sour cream", "baking soda", "baking powder", "honey", "brown sugar", "milk",
        "cornstarch", "yeast", "vanilla extract", "white wine", "soy sauce",
        "fresh basil", "garlic", "shallots", "lemon juice", "vinegar",
        "breadcrumbs", "parmesan", "ricotta", "coconut milk", "maple syrup",
        "olive oil", "cream cheese", "greek yogurt", "chicken stock",
        "tomato paste", "cumin", "fresh ginger", "mayonnaise",
    ),
    "unit": (
        "cups", "grams", "ounces", "tablespoons", "teaspoons", "milliliters",
        "liters", "pounds", "kilograms", "sticks of butter", "pints", "quarts",
        "fluid ounces", "gallons", "pinches",
    ),
    "subject": (
        "the budget report", "tomorrow's meeting", "the project deadline",
        "the invoice", "the quarterly review", "lunch plans", "the contract",
        "the offsite", "my vacation request", "the new hire", "the slides",
        "the wedding", "the marketing plan", "the party", "the lease",
        "the trip to Paris", "the homework", "the car repair", "weekend plans",
        "the conference",
    ),
    "message": (
        "i'm running late", "dinner is ready", "call me when you can",
        "see you at eight", "happy birthday", "i'm on my way",
        "don't forget the milk", "the meeting is cancelled", "i love you",
        "can you pick me up", "running ten minutes behind", "good luck today",
        "i'll be home soon", "where are you", "let's grab lunch",
        "thanks for everything", "i miss you", "the package arrived",
        "what time is the game", "i'm at the station", "bring an umbrella",
        "congrats on the new job", "can we reschedule", "i'll call you back",
    ),
    "phone_number": (
        "555 0134", "555 2368", "415 555 0199", "07700 900123", "212 555 0170",
        "020 7946 0958", "555 867 5309", "0161 496 0000", "617 555 0143",
        "800 555 0100", "312 555 0111", "555 0162", "0412 345 678",
        "03 9999 1234", "650 555 0123", "718 555 0181", "555 0190",
        "1 800 555 0111", "604 555 0155", "202 555 0147",
    ),
    "clothing": (
        "an umbrella", "a jacket", "a coat", "sunscreen", "a sweater", "boots",
        "a raincoat", "gloves", "a hat", "shorts", "sunglasses", "a scarf",
        "a hoodie", "snow boots", "a light jacket", "a winter coat",
    ),
}

# Slot type (as written in templates and BIO tags) -> catalogue name. A type
# named like its catalogue maps to itself.
_ROLES: Mapping[str, str] = {
    "new_time": "time",
    "end_time": "time",
    "new_date": "date",
    "from_city": "city",
    "to_city": "city",
    "from_currency": "currency",
    "to_currency": "currency",
    "to_account": "account",
    "origin": "location",
    "destination": "location",
    "from_unit": "unit",
    "to_unit": "unit",
}

SLOT_VALUES: Mapping[str, tuple[str, ...]] = {
    **{name: values for name, values in CATALOGUES.items()},
    **{role: CATALOGUES[catalogue] for role, catalogue in _ROLES.items()},
}


def catalogue_of(slot_type: str) -> str:
  """The catalogue a slot type draws its values from (``to_city`` -> ``city``)."""
  if slot_type not in SLOT_VALUES:
    raise KeyError(f"unknown slot type {slot_type!r}")
  return _ROLES.get(slot_type, slot_type)
