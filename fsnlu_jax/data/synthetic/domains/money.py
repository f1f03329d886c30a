"""Money: the bank account and the markets.

Transfers and requests both name a person and an amount, and requests often
say "send me"; buying and selling stock share every slot; a currency question
and a conversion differ only by whether an amount is given.
"""

from __future__ import annotations

from fsnlu_jax.data.synthetic.spec import domain

BANKING = domain(
    "banking",
    words={
        "send": ("send", "transfer", "pay", "give", "wire"),
        "money": ("money", "cash", "funds"),
        "balance": ("balance", "available balance", "current balance"),
        "freeze": ("freeze", "block", "lock", "deactivate"),
    },
    intents={
        "banking_transfer_money": """
            {cmd} {send} <amount> to <person>
            {cmd} {send} <person> <amount>
            {cmd} move <amount> from {my} <account> to {my} <to_account>
            {want} {send} {money} to <person>
            {cmd} {send} <person> <amount> for dinner
            {cmd} venmo <person> <amount>
            {cmd} {send} <amount> to <person> from my <account>
            {hi} i owe <person> <amount> , {send} it
            {cmd} pay <person> back the <amount>
            {cmd} put <amount> into {my} <to_account>
        """,
        "banking_request_money": """
            {cmd} request <amount> from <person>
            {cmd} ask <person> for <amount>
            {cmd} ask <person> to {send} me <amount>
            {want} request {money} from <person>
            {hi} <person> owes me <amount> , {send} them a request
            {cmd} {send} <person> a payment request for <amount>
            {cmd} charge <person> <amount>
            {cmd} bill <person> <amount> for dinner
            {cmd} get <amount> back from <person>
            {cmd} remind <person> to pay me <amount>
        """,
        "banking_balance": """
            {hi} what's the {balance} of my <account> {q}
            {hi} how much {money} do i have {q}
            {hi} how much is in my <account> {q}
            {cmd} check my <account> {balance}
            {hi} what's my {balance} {q}
            {hi} {tell} my <account> {balance}
            {hi} do i have enough {money} for <amount> {q}
            {hi} how much can i spend {for_date} {q}
            {hi} is my <account> overdrawn {q}
            {cmd} show me my {balance}
        """,
        "banking_pay_bill": """
            {cmd} pay my <bill>
            {cmd} pay the <bill> {for_date}
            {cmd} pay <amount> toward my <bill>
            {want} pay my <bill>
            {cmd} pay my <bill> from my <account>
            {cmd} schedule a payment for my <bill> on <date>
            {hi} my <bill> is due , pay it
            {cmd} set up autopay for my <bill>
            {cmd} settle the <bill>
            {cmd} {send} <amount> for the <bill> {for_date}
        """,
        "banking_transactions": """
            {cmd} show my recent transactions
            {hi} what did i spend {for_date} {q}
            {cmd} list my transactions from <date>
            {hi} how much did i pay for my <bill> {q}
            {hi} what were my last purchases {q}
            {cmd} show me payments to <person>
            {hi} did <person> pay me {q}
            {cmd} read my <account> statement
            {hi} what was the <amount> charge {q}
            {cmd} show the last five transactions on my <account>
        """,
        "banking_freeze_card": """
            {cmd} {freeze} my <card>
            {hi} i lost my <card> , {freeze} it
            {hi} my <card> was stolen
            {want} {freeze} my <card>
            {cmd} cancel my <card>
            {cmd} temporarily disable my <card>
            {hi} someone is using my <card> , {freeze} it
            {cmd} put a hold on my <card>
            {hi} i can't find my <card>
            {cmd} stop all payments on my <card>
        """,
    })

FINANCE = domain(
    "finance",
    words={
        "rate": ("rate", "exchange rate", "conversion rate"),
        "convert": ("convert", "change", "exchange", "turn"),
        "shares": ("shares", "stock", "stocks"),
        "buy": ("buy", "purchase", "pick up", "get me"),
        "sell": ("sell", "dump", "unload", "offload"),
    },
    intents={
        "finance_exchange_rate": """
            {hi} what's the {rate} between <from_currency> and <to_currency> {q}
            {hi} how much is one <from_currency> in <to_currency> {q}
            {hi} what's the {rate} for <from_currency> to <to_currency> {q}
            {hi} {tell} the <from_currency> to <to_currency> {rate}
            {hi} how strong is the <from_currency> against the <to_currency> {q}
            {hi} what's the <from_currency> trading at {q}
            {hi} is the <from_currency> up against <to_currency> {for_date} {q}
            {cmd} check the {rate} for <from_currency>
            {hi} how many <to_currency> to the <from_currency> {q}
            {hi} what's today's <from_currency> {rate} {q}
        """,
        "finance_convert_currency": """
            {cmd} {convert} <number> <from_currency> to <to_currency>
            {hi} how much is <number> <from_currency> in <to_currency> {q}
            {hi} what is <number> <from_currency> in <to_currency> {q}
            {cmd} {convert} <number> <from_currency> into <to_currency>
            {want} {convert} <number> <from_currency>
            {hi} how many <to_currency> will i get for <number> <from_currency> {q}
            {cmd} {convert} <amount> to <to_currency>
            {hi} <number> <from_currency> to <to_currency> {q}
            {cmd} calculate <number> <from_currency> in <to_currency>
            {hi} what's <amount> in <to_currency> {q}
        """,
        "finance_stock_price": """
            {hi} what's <company> trading at {q}
            {hi} how is <company> stock doing {for_date} {q}
            {hi} what's the price of <company> {shares} {q}
            {hi} {tell} the stock price of <company>
            {hi} is <company> up {for_date} {q}
            {cmd} check <company> stock
            {hi} how much is a share of <company> {q}
            {hi} how did <company> close <date> {q}
            {cmd} give me a quote for <company>
            {hi} where is <company> stock right now {q}
        """,
        "finance_buy_stock": """
            {cmd} {buy} <number> {shares} of <company>
            {cmd} {buy} some <company> stock
            {want} invest <amount> in <company>
            {cmd} {buy} <number> <company> {shares}
            {cmd} put <amount> into <company>
            {want} {buy} <company> stock
            {cmd} place an order for <number> {shares} of <company>
            {cmd} {buy} <amount> worth of <company>
            {hi} i'm bullish on <company> , {buy} <number> {shares}
            {cmd} add <number> <company> {shares} to my portfolio
        """,
        "finance_sell_stock": """
            {cmd} {sell} <number> {shares} of <company>
            {cmd} {sell} my <company> stock
            {want} {sell} <company>
            {cmd} {sell} <amount> worth of <company>
            {cmd} place a sell order for <number> {shares} of <company>
            {cmd} get rid of my <company> {shares}
            {hi} i'm worried about <company> , {sell} <number> {shares}
            {cmd} cash out my <company> position
            {cmd} {sell} half of my <company> stock
            {cmd} take <number> <company> {shares} out of my portfolio
        """,
    })

DOMAINS = (BANKING, FINANCE)
