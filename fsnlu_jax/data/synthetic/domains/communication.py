"""Keeping in touch: email and phone calls.

Every intent names people; email intents share the ``subject`` slot and phone
intents the ``phone_number`` slot, so the verb frame ("reply to", "forward
... to", "call back", "block") carries the intent.
"""

from __future__ import annotations

from fsnlu_jax.data.synthetic.spec import domain

EMAIL = domain(
    "email",
    words={
        "email": ("email", "mail", "e-mail", "message"),
        "emails": ("emails", "mail", "messages", "e-mails"),
        "inbox": ("inbox", "email", "mail"),
        "an_email": ("an email", "an e-mail", "a message", "a note"),
        "this_email": ("this {email}", "the last {email}", "the {email} i just got"),
    },
    intents={
        "email_send": """
            {cmd} send {an_email} to <person>
            {cmd} {email} <person> about <subject>
            {cmd} write {an_email} to <person> about <subject>
            {want} send <person> {an_email}
            {cmd} compose a new {email} to <person>
            {cmd} send <person> a note about <subject>
            {cmd} draft {an_email} to <person> saying <message>
            {cmd} shoot <person> {an_email}
            {hi} {email} <person> and tell them <message>
            {cmd} send {an_email} about <subject> to <person>
        """,
        "email_read": """
            {hi} do i have any new {emails} {q}
            {cmd} read my {emails}
            {cmd} check my {inbox}
            {hi} any {emails} from <person> {q}
            {cmd} read the last {email} from <person>
            {hi} what's in my {inbox} {q}
            {hi} did <person> {email} me about <subject> {q}
            {cmd} open the {email} about <subject>
            {hi} how many unread {emails} do i have {q}
            {cmd} show me {emails} from <date>
        """,
        "email_reply": """
            {cmd} reply to <person>
            {cmd} reply to the {email} from <person>
            {cmd} respond to <person> saying <message>
            {cmd} reply to the {email} about <subject>
            {cmd} answer {this_email}
            {hi} write back to <person>
            {cmd} reply saying <message>
            {cmd} reply all to the {email} about <subject>
            {want} respond to <person>
            {cmd} send a reply to <person> about <subject>
        """,
        "email_forward": """
            {cmd} forward the {email} from <person> to <person>
            {cmd} forward {this_email} to <person>
            {cmd} forward the {email} about <subject> to <person>
            {cmd} send {this_email} on to <person>
            {want} forward <person> the {email} about <subject>
            {cmd} pass {this_email} along to <person>
            {cmd} forward <subject> to <person>
            {cmd} share the {email} from <person> with <person>
            {hi} <person> should see this , forward it
            {cmd} send <person> a copy of the {email} about <subject>
        """,
        "email_delete": """
            {cmd} delete the {email} from <person>
            {cmd} delete all {emails} from <person>
            {cmd} trash the {email} about <subject>
            {cmd} delete {this_email}
            {cmd} clear my {inbox}
            {want} delete {emails} from <date>
            {cmd} get rid of the {email} about <subject>
            {cmd} move the {email} from <person> to the trash
            {cmd} archive the {email} about <subject>
            {hi} i don't need {this_email} , delete it
        """,
    })

PHONE = domain(
    "phone",
    words={
        "call": ("call", "phone", "ring", "dial"),
        "number": ("number", "phone number", "contact"),
        "contacts": ("contacts", "address book", "phone book"),
    },
    intents={
        "phone_call": """
            {cmd} {call} <person>
            {cmd} {call} <phone_number>
            {want} talk to <person>
            {cmd} get <person> on the phone
            {cmd} start a video call with <person>
            {cmd} {call} <person> on speaker
            {hi} i need to {call} <person>
            {cmd} put a call through to <person>
            {cmd} {call} <person> at <phone_number>
        """,
        "phone_redial": """
            {cmd} redial
            {cmd} {call} the last {number} again
            {cmd} {call} <person> back
            {cmd} {call} back the last person who called
            {cmd} return the last call
            {cmd} try <person> again
            {hi} the call dropped , {call} them again
            {cmd} redial <person>
            {cmd} {call} that {number} again
            {cmd} ring back the last caller
        """,
        "phone_missed_calls": """
            {hi} did i miss any calls {for_date} {q}
            {hi} who called me {for_date} {q}
            {hi} did <person> {call} {for_date} {q}
            {cmd} show my missed calls
            {hi} any missed calls from <person> {q}
            {hi} who was the last person to {call} me {q}
            {cmd} read my call history
            {hi} how many missed calls do i have {q}
            {hi} did anyone {call} while i was out {q}
            {hi} when did <person> last {call} {q}
        """,
        "phone_block_number": """
            {cmd} block <phone_number>
            {cmd} block <person>
            {cmd} block this {number}
            {cmd} stop calls from <phone_number>
            {hi} <person> keeps calling , block them
            {cmd} block the last caller
            {want} block <phone_number>
            {cmd} add <phone_number> to my block list
            {hi} don't let <person> {call} me anymore
            {cmd} send calls from <person> straight to voicemail
        """,
        "phone_add_contact": """
            {cmd} add <person> to my {contacts}
            {cmd} save <phone_number> as <person>
            {cmd} create a new contact for <person>
            {cmd} save this {number} under <person>
            {cmd} add <phone_number> to my {contacts}
            {cmd} add a contact named <person> with {number} <phone_number>
            {want} save <person> in my phone
            {hi} new contact , <person> , <phone_number>
            {cmd} save the last caller as <person>
        """,
    })

DOMAINS = (EMAIL, PHONE)
