"""Template pieces shared by every domain: politeness, fillers, endings.

Repeated empty alternatives are weights: ``("", "", "please")`` leaves the
piece out two times in three. Every utterance also gets one of
:data:`ENDINGS` appended, so the same request turns up bare, with "please" or
with "thanks", as people type it.
"""

from __future__ import annotations

from typing import Mapping

COMMON_WORDS: Mapping[str, tuple[str, ...]] = {
    # Before an imperative verb ("{cmd} set an alarm ...").
    "cmd": (
        "", "", "", "", "", "please", "can you", "could you", "would you", "will you",
        "i need you to", "i want you to", "go ahead and", "i'd like you to",
        "can you please", "could you please", "{hi} please", "{hi} can you",
    ),
    # Before anything: greetings, attention words, fillers.
    "hi": (
        "", "", "", "", "", "hey", "hi", "ok", "okay", "hey ,", "hello ,",
        "excuse me ,", "um", "so", "assistant ,", "hey there ,", "quick question ,",
    ),
    # "I want to ..." before a bare verb.
    "want": (
        "i want to", "i'd like to", "i need to", "i wanna", "i would like to",
        "let me", "help me", "i have to", "{hi} i want to", "{hi} i need to",
    ),
    # Asking to be told something.
    "tell": (
        "tell me", "let me know", "show me", "can you tell me", "do you know",
        "could you tell me", "i want to know", "please tell me",
    ),
    "q": ("", "", "?"),
    "my": ("my", "the"),
    "remove": ("remove", "delete", "cancel", "get rid of", "clear", "erase"),
    "for_date": ("", "", "<date>", "for <date>"),
    "on_date": ("", "", "<date>", "for <date>", "on <date>"),
    "in_city": ("", "in <city>", "in <city>", "for <city>"),
    "in_room": ("", "in the <room>", "in the <room>"),
}

# Appended to every utterance (after any "?" the template ends with).
ENDINGS: tuple[str, ...] = (
    "", "", "", "", "", "", "", "", "please", "thanks", "thank you", "thanks a lot",
)
