"""Listening: music and podcasts.

Music intents all talk about songs, artists and playlists; "save this song" is
a like, "save this song to my workout playlist" an add-to-playlist, "remove it
from my favorites" a dislike.
"""

from __future__ import annotations

from fsnlu_jax.data.synthetic.spec import domain

MUSIC = domain(
    "music",
    words={
        "play": ("play", "put on", "start", "blast", "queue up", "throw on"),
        "song": ("song", "track", "tune"),
        "music": ("music", "songs", "tunes", "tracks"),
        "this_song": ("this song", "this track", "the song that's playing", "this",
                      "this one", "the current song", "this tune"),
        "by_artist": ("", "by <artist>"),
        "add": ("add", "put", "save", "stick"),
    },
    intents={
        "music_play": """
            {cmd} {play} <song> by <artist>
            {cmd} {play} <song>
            {cmd} {play} some <artist>
            {cmd} {play} {music} by <artist>
            {cmd} {play} some <genre> {music}
            {cmd} {play} my <playlist> playlist
            {want} listen to <artist>
            {hi} i want to hear <song> {by_artist}
            {cmd} shuffle my <playlist> playlist
            {hi} i'm in the mood for some <genre>
        """,
        "music_add_to_playlist": """
            {cmd} {add} <song> to my <playlist> playlist
            {cmd} {add} {this_song} to <playlist>
            {cmd} {add} {this_song} to my <playlist> playlist
            {cmd} put <song> by <artist> on my <playlist> playlist
            {cmd} {add} some <artist> to the <playlist> playlist
            {want} {add} {this_song} to a playlist
            {hi} this would be great for my <playlist> playlist , {add} it
            {cmd} include <song> in <playlist>
            {cmd} {add} {this_song} to my <playlist> mix
            {cmd} {add} <song> {by_artist} to the <playlist> list
        """,
        "music_like": """
            {hi} i like {this_song}
            {hi} i love <song>
            {cmd} like {this_song}
            {cmd} save {this_song} to my library
            {cmd} {add} {this_song} to my favorites
            {hi} {this_song} is great
            {cmd} give {this_song} a thumbs up
            {hi} i really like <artist>
            {cmd} remember that i like <song> {by_artist}
            {cmd} heart {this_song}
        """,
        "music_dislike": """
            {hi} i don't like {this_song}
            {cmd} thumbs down {this_song}
            {hi} i hate <song>
            {hi} never {play} <song> again
            {hi} don't {play} <artist> anymore
            {hi} {this_song} is terrible
            {cmd} remove {this_song} from my favorites
            {hi} i'm not into <genre>
            {cmd} dislike {this_song}
            {cmd} stop recommending <artist>
        """,
        "music_skip": """
            {cmd} skip {this_song}
            {cmd} next {song}
            {cmd} {play} the next {song}
            {hi} skip
            {cmd} skip ahead
            {hi} i don't want to hear this , skip it
            {cmd} go to the next {song}
            {cmd} skip to <song>
            {cmd} move on to the next one
            {cmd} jump to the next {song} on my <playlist> playlist
        """,
        "music_query": """
            {hi} what {song} is this {q}
            {hi} who sings {this_song} {q}
            {hi} what's playing right now {q}
            {hi} what's the name of {this_song} {q}
            {hi} who is this artist {q}
            {hi} what album is {this_song} from {q}
            {hi} when did <artist> release <song> {q}
            {hi} who wrote <song> {q}
            {hi} {tell} the name of {this_song}
            {hi} is this <artist> {q}
        """,
    })

PODCAST = domain(
    "podcast",
    words={
        "play": ("play", "put on", "start", "queue up"),
        "episode": ("episode", "show", "ep"),
        "episodes": ("episodes", "shows", "eps"),
        "latest": ("latest", "newest", "most recent", "new"),
        "subscribe": ("subscribe to", "follow", "sign me up for"),
    },
    intents={
        "podcast_play": """
            {cmd} {play} <podcast>
            {cmd} {play} the {latest} {episode} of <podcast>
            {want} listen to <podcast>
            {cmd} resume <podcast>
            {cmd} {play} the podcast <podcast>
            {cmd} start the {latest} <podcast> {episode}
            {hi} i'm in the mood for <podcast>
            {cmd} continue <podcast> where i left off
            {cmd} {play} an episode of <podcast>
        """,
        "podcast_next_episode": """
            {cmd} {play} the next {episode}
            {cmd} skip to the next {episode} of <podcast>
            {cmd} next {episode}
            {hi} go to the next {episode}
            {cmd} {play} the {episode} after this one
            {cmd} move on to the next <podcast> {episode}
            {hi} i finished this one , {play} the next
            {cmd} jump to the following {episode}
            {cmd} queue up the next {episode} of <podcast>
        """,
        "podcast_subscribe": """
            {cmd} {subscribe} <podcast>
            {want} {subscribe} <podcast>
            {cmd} add <podcast> to my podcasts
            {cmd} download new {episodes} of <podcast> automatically
            {cmd} get me every new {episode} of <podcast>
            {hi} i want to follow the podcast <podcast>
            {cmd} save <podcast> to my library
            {hi} <podcast> is great , {subscribe} it
            {cmd} {subscribe} the podcast <podcast>
        """,
        "podcast_unsubscribe": """
            {cmd} unsubscribe from <podcast>
            {cmd} unfollow <podcast>
            {cmd} stop following <podcast>
            {cmd} remove <podcast> from my podcasts
            {hi} i'm tired of <podcast> , unsubscribe
            {want} unsubscribe from <podcast>
            {cmd} stop downloading <podcast>
            {cmd} delete <podcast> from my library
            {hi} no more <podcast> {episodes}
        """,
        "podcast_query_new": """
            {hi} are there new {episodes} of <podcast> {q}
            {hi} is there a new <podcast> {q}
            {hi} any new {episodes} {q}
            {hi} when does the next <podcast> come out {q}
            {hi} has <podcast> released anything new {q}
            {cmd} check for new {episodes} of <podcast>
            {hi} what's the {latest} {episode} of <podcast> {q}
            {hi} did <podcast> post a new {episode} <date> {q}
            {hi} {tell} if <podcast> has a new {episode}
        """,
    })

DOMAINS = (MUSIC, PODCAST)
