"""Looking things up: weather, news, sports, words and languages.

Mostly questions; intents of a domain ask about the same slots (a city and a
date, a team, a word) and differ in what is asked ("will it rain" against "do
I need an umbrella", "how do you say" against "how do you pronounce").
"""

from __future__ import annotations

from fsnlu_jax.data.synthetic.spec import domain

WEATHER = domain(
    "weather",
    words={
        "weather": ("weather", "forecast", "weather forecast", "weather report"),
        "outside": ("outside", "out", "out there"),
    },
    intents={
        "weather_query": """
            {hi} what's the {weather} {in_city} {for_date} {q}
            {hi} {tell} the {weather} {in_city} {for_date}
            {hi} how's the {weather} {in_city} {for_date} {q}
            {hi} what's it like {outside} {in_city} {q}
            {cmd} give me the {weather} for <city> {for_date}
            {hi} {weather} for <date> {in_city}
            {hi} what will the {weather} be like {in_city} <date> {q}
            {cmd} check the {weather} {in_city} {for_date}
            {hi} is it nice {outside} {in_city} {for_date} {q}
            {hi} what kind of day is it going to be {in_city} {q}
        """,
        "weather_rain": """
            {hi} is it going to rain {in_city} {for_date} {q}
            {hi} will it rain {in_city} {for_date} {q}
            {hi} any rain in the {weather} {in_city} {for_date} {q}
            {hi} what's the chance of rain {in_city} {for_date} {q}
            {hi} is it raining {in_city} right now {q}
            {hi} should i expect showers {in_city} {for_date} {q}
            {hi} will there be snow {in_city} {for_date} {q}
            {hi} {tell} if it'll rain {in_city} {for_date}
            {hi} is there a storm coming {in_city} {q}
            {cmd} check for rain {in_city} {for_date}
        """,
        "weather_temperature": """
            {hi} what's the temperature {in_city} {for_date} {q}
            {hi} how hot is it {outside} {in_city} {q}
            {hi} how cold will it be {in_city} {for_date} {q}
            {hi} what's the high {in_city} {for_date} {q}
            {hi} what's the low {for_date} {in_city} {q}
            {hi} {tell} the temperature {in_city} {for_date}
            {hi} how many degrees is it {outside} {in_city} {q}
            {hi} will it be warm {in_city} {for_date} {q}
            {hi} is it below freezing {in_city} {q}
            {cmd} check the temperature {in_city} {for_date}
        """,
        "weather_wind": """
            {hi} how windy is it {in_city} {for_date} {q}
            {hi} what's the wind speed {in_city} {for_date} {q}
            {hi} is it going to be windy {in_city} {for_date} {q}
            {hi} will there be strong winds {in_city} {for_date} {q}
            {hi} which way is the wind blowing {in_city} {q}
            {cmd} check the wind {in_city} {for_date}
            {hi} is it too windy for a bike ride {for_date} {q}
            {hi} any gusts expected {in_city} {for_date} {q}
            {hi} {tell} the wind {weather} {in_city} {for_date}
        """,
        "weather_clothing": """
            {hi} do i need <clothing> {for_date} {q}
            {hi} should i bring <clothing> {for_date} {q}
            {hi} should i wear <clothing> {in_city} {for_date} {q}
            {hi} will i need <clothing> {in_city} {for_date} {q}
            {hi} what should i wear {for_date} {q}
            {hi} what should i pack for <city> {for_date} {q}
            {hi} is it cold enough for <clothing> {for_date} {q}
            {hi} do i need to take <clothing> to <city> {q}
            {hi} how should i dress {in_city} {for_date} {q}
            {hi} would <clothing> be a good idea {for_date} {q}
        """,
    })

NEWS = domain(
    "news",
    words={
        "headlines": ("headlines", "top stories", "latest news", "news", "news briefing"),
        "play": ("play", "read me", "give me", "read", "put on"),
        "latest": ("latest", "newest", "most recent"),
    },
    intents={
        "news_headlines": """
            {hi} what's in the news {for_date} {q}
            {cmd} {play} the {headlines}
            {cmd} give me the {headlines} {for_date}
            {hi} what's happening in the world {q}
            {hi} {tell} the {latest} news
            {hi} any breaking news {q}
            {hi} what are the {headlines} {for_date} {q}
            {cmd} catch me up on the news
            {hi} what's going on in the world {for_date} {q}
            {want} hear the {headlines}
        """,
        "news_topic": """
            {hi} what's the {latest} on <topic> {q}
            {cmd} give me the <topic> news
            {hi} any news about <topic> {q}
            {cmd} {play} the {headlines} about <topic>
            {hi} {tell} what's happening in <topic>
            {cmd} {play} the {latest} <topic> stories
            {hi} what's new in <topic> {for_date} {q}
            {cmd} find news on <topic>
            {hi} top stories in <topic> {q}
            {want} hear about <topic>
        """,
        "news_source": """
            {cmd} {play} the {headlines} from <news_source>
            {hi} what is <news_source> reporting {for_date} {q}
            {cmd} {play} the news from <news_source>
            {hi} what's the top story on <news_source> {q}
            {cmd} give me <news_source> news about <topic>
            {cmd} open <news_source>
            {hi} {tell} the {latest} from <news_source>
            {hi} what does <news_source> say about <topic> {q}
            {cmd} switch to <news_source> for the news
            {want} hear <news_source> {headlines}
        """,
        "news_subscribe": """
            {cmd} subscribe me to <news_source>
            {cmd} notify me when there's news about <topic>
            {want} get alerts about <topic>
            {cmd} follow <topic> news for me
            {cmd} send me a daily briefing on <topic>
            {hi} keep me updated on <topic>
            {cmd} sign me up for <news_source> alerts
            {cmd} turn on news alerts for <topic>
            {hi} i'd like <news_source> in my daily briefing
            {cmd} send me the {headlines} about <topic> every morning
        """,
    })

SPORTS = domain(
    "sports",
    words={
        "game": ("game", "match"),
        # Team and league names carry no article, so the templates supply it
        # ("did the Lakers win"); leaving it out is a common way to type it.
        "the": ("the", "the", ""),
        "season": ("this season", "so far this season", "this year"),
    },
    intents={
        "sports_score": """
            {hi} what's the score of the <team> {game} {q}
            {hi} did {the} <team> win {for_date} {q}
            {hi} who won the <team> {game} {for_date} {q}
            {hi} how did {the} <team> do {for_date} {q}
            {hi} what was the final score between {the} <team> and {the} <team> {q}
            {hi} {tell} the score of {the} <team> versus {the} <team>
            {hi} are {the} <team> winning {q}
            {hi} what are the <league> scores {for_date} {q}
            {cmd} give me the <team> score
            {hi} did {the} <team> beat {the} <team> {q}
        """,
        "sports_schedule": """
            {hi} when do {the} <team> play next {q}
            {hi} when is the next <team> {game} {q}
            {hi} what time is the <team> {game} <date> {q}
            {hi} who do {the} <team> play {for_date} {q}
            {cmd} show me the <league> schedule for <date>
            {hi} is there a <team> {game} {for_date} {q}
            {hi} what games are on {for_date} {q}
            {hi} when does {the} <league> start {q}
            {hi} {tell} the <team> schedule
            {hi} when do {the} <team> play {the} <team> {q}
        """,
        "sports_standings": """
            {hi} where are {the} <team> in the standings {q}
            {hi} who's top of {the} <league> {q}
            {cmd} show me the <league> table
            {hi} what does the <league> table look like {q}
            {hi} who leads {the} <league> {season} {q}
            {hi} are {the} <team> in the playoffs {q}
            {hi} what place are {the} <team> in {season} {q}
            {hi} {tell} the <league> standings
            {hi} how many points are {the} <team> behind the leaders {q}
            {hi} are {the} <team> ahead of {the} <team> in the table {q}
        """,
        "sports_player_stats": """
            {hi} how many points did <player> score {for_date} {q}
            {hi} what are the stats for <player> {season} {q}
            {hi} how is <player> doing {season} {q}
            {hi} how many goals does <player> have {season} {q}
            {cmd} show me <player> stats
            {hi} is <player> injured {q}
            {hi} who scored for {the} <team> {for_date} {q}
            {hi} {tell} how <player> played {for_date}
            {hi} what's <player> averaging {season} {q}
        """,
        "sports_follow_team": """
            {cmd} follow {the} <team>
            {cmd} send me updates about {the} <team>
            {cmd} notify me when {the} <team> play
            {want} follow {the} <team>
            {cmd} add {the} <team> to my favorite teams
            {cmd} alert me when {the} <team> score
            {cmd} follow <player>
            {hi} keep me posted on {the} <league>
            {cmd} turn on notifications for {the} <team> games
            {cmd} send me the <team> score after every {game}
        """,
    })

LANGUAGE = domain(
    "language",
    words={
        "say": ("say", "write"),
        "into": ("into", "in", "to"),
    },
    intents={
        "language_translate": """
            {cmd} translate <phrase> {into} <language>
            {hi} how do you {say} <phrase> in <language> {q}
            {hi} what's <phrase> in <language> {q}
            {cmd} {say} <phrase> in <language>
            {want} translate something {into} <language>
            {hi} what does <phrase> mean in <language> {q}
            {cmd} translate <word> {into} <language>
            {hi} how would i {say} <phrase> in <language> {q}
            {cmd} give me the <language> for <phrase>
            {hi} what's the <language> word for <word> {q}
        """,
        "language_define": """
            {hi} what does <word> mean {q}
            {cmd} define <word>
            {hi} what's the definition of <word> {q}
            {hi} what is the meaning of <word> {q}
            {cmd} look up <word> in the dictionary
            {hi} {tell} what <word> means
            {hi} is <word> a real word {q}
            {cmd} explain the word <word>
            {hi} what's <word> {q}
        """,
        "language_spell": """
            {hi} how do you spell <word> {q}
            {cmd} spell <word>
            {cmd} spell <word> for me
            {hi} what's the spelling of <word> {q}
            {hi} is <word> spelled correctly {q}
            {hi} how is <word> spelled {q}
            {hi} {tell} how to spell <word>
            {hi} how many letters are in <word> {q}
            {cmd} spell out <word> letter by letter
        """,
        "language_synonym": """
            {hi} what's another word for <word> {q}
            {cmd} give me a synonym for <word>
            {hi} what's a synonym of <word> {q}
            {hi} what word means the same as <word> {q}
            {cmd} find a different word for <word>
            {hi} what's the opposite of <word> {q}
            {cmd} suggest alternatives to <word>
            {hi} is there a better word than <word> {q}
            {cmd} list synonyms for <word>
        """,
        "language_pronounce": """
            {hi} how do you pronounce <word> {q}
            {cmd} pronounce <word>
            {hi} how do i say <word> {q}
            {cmd} say <word> out loud
            {hi} what's the right pronunciation of <word> {q}
            {hi} how is <word> pronounced {q}
            {hi} {tell} how to pronounce <word>
            {hi} am i saying <word> right {q}
            {cmd} read <word> aloud
        """,
    })

DOMAINS = (WEATHER, NEWS, SPORTS, LANGUAGE)
