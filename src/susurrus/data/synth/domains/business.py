"""Work calls: tech support, logistics, hiring, real estate (in-domain)."""

from __future__ import annotations

from susurrus.data.synth.script import Domain, Exchange

TECH_SUPPORT = Domain(
    name="tech_support",
    slots={"customer": "person", "agent": "person", "company": "org:software",
           "product": "product", "version": "version", "ticket": "ticket", "date": "date"},
    opening=Exchange(
        a=("{company} support, this is {agent.first}. What can I help you with?",
           "{hi}, you've reached {company} support. Can I get your name?"),
        b=("{hi}, I'm {customer}. Since the {version} update, {product} keeps crashing on "
           "startup.",
           "This is {customer}. We upgraded {product} to {version} and now nothing syncs."),
    ),
    middle=(
        Exchange(a=("{ok}, {product} {version}. Are you on the desktop app or the web version?",
                    "Sorry about that. Which operating system are you running {product} on?"),
                 b=("The desktop app, on two of our laptops.", "Mostly Windows, and one Mac.")),
        Exchange(a=("There's a known issue in {version} with older graphics drivers. A fix is "
                    "planned for {date}.",
                    "We've seen a few reports about {version}. Engineering expects a patch by "
                    "{date}."),
                 b=("{date} is a while away. Is there a workaround?",
                    "Is there anything we can do before {date}?")),
        Exchange(a=("You can roll back to the previous release. Your data in {product.short} "
                    "stays where it is.",
                    "Turning off hardware acceleration in the {product.short} settings usually "
                    "helps."),
                 b=("{ok}, I'll try that this afternoon.",
                    "Will that affect the other people on our team?")),
        Exchange(a=("I've opened ticket {ticket} for you, so you can follow it online.",
                    "Let me create a ticket. Your reference is {ticket}."),
                 b=("{ticket}, got it.", "Could you repeat that? {ticket}?")),
        Exchange(a=("Can you send us the crash log from one of the laptops?",
                    "Would you mind sharing a screenshot of the error?"),
                 b=("Sure, I'll email it to support today.",
                    "No problem, I'll attach it to the ticket.")),
    ),
    closing=Exchange(
        a=("{so}, {customer.first}, the {product} {version} issue is logged, and we'll update "
           "you before {date}.",
           "{ok}, to sum up: {product} {version} crashes on startup, the fix is due on {date}, "
           "and I'll follow up with you."),
        b=("{thanks}, {agent.first}. I'll keep an eye out for the {version} patch.",
           "Great, so {date} at the latest. {thanks} for the help."),
    ),
)

LOGISTICS = Domain(
    name="logistics",
    slots={"client": "person", "shipper": "org:logistics", "origin": "city", "dest": "city",
           "order": "tracking", "weight": "weight", "date": "date", "fee": "money"},
    opening=Exchange(
        a=("{shipper}, dispatch desk. How can I help?",
           "Good afternoon, {shipper}, this is the customer line."),
        b=("{hi}, it's {client} calling. I'm tracking a shipment to {dest}, number {order}.",
           "{hi}, this is {client}. Our pallet for {dest} hasn't moved in three days. The "
           "tracking number is {order}."),
    ),
    middle=(
        Exchange(a=("{wait}. Shipment {order}, {weight}, from {origin} to {dest}. Is that right?",
                    "I've got it: {order}, picked up in {origin}."),
                 b=("Yes, that's the one.", "That's right, it left {origin} on Monday.")),
        Exchange(a=("It's held at our hub in {origin} because the customs papers are missing.",
                    "The pallet is waiting for a truck with space. The next one leaves on "
                    "{date}."),
                 b=("Nobody told us about that. What do you need from us?",
                    "That's too late, the client needs it this week.")),
        Exchange(a=("If you upgrade to express, it goes out tomorrow for an extra {fee}.",
                    "We can move it to express delivery. The surcharge is {fee}."),
                 b=("{fee} is steep, but let's do it.",
                    "Let me check with my manager about the {fee}.")),
        Exchange(a=("The driver will need someone to sign for it at the dock in {dest}.",
                    "Can you confirm the delivery address in {dest}?"),
                 b=("Our warehouse manager will be there all day.",
                    "It's the same warehouse as last time.")),
        Exchange(a=("For {weight}, you'll also need a forklift on site.",
                    "Please note the weight on file is {weight}."),
                 b=("We have one, that's fine.", "{weight} sounds right.")),
    ),
    closing=Exchange(
        a=("{ok}, {client.title}, shipment {order} to {dest} is now scheduled to arrive on "
           "{date}.",
           "{so} {order} leaves {origin} tomorrow and reaches {dest} on {date}."),
        b=("{thanks}. I'll tell the team in {dest} to expect it on {date}.",
           "Great, {order} on {date}. {thanks} for your help."),
    ),
)

HIRING = Domain(
    name="hiring",
    slots={"candidate": "person", "manager": "person", "company": "org:company", "role": "role",
           "salary": "salary", "city": "city", "date": "date"},
    opening=Exchange(
        a=("{hi}, {candidate.first}? This is {manager} from {company}.",
           "Hello, am I speaking with {candidate}? I'm calling from {company} about your "
           "application."),
        b=("Yes, speaking. Is this about the {role} position?",
           "Yes, this is {candidate.first}. Thanks for calling back."),
    ),
    middle=(
        Exchange(a=("The team enjoyed meeting you, and we'd like to offer you the {role} "
                    "position.",
                    "I'm happy to say we'd like to make you an offer for the {role} role."),
                 b=("That's wonderful news!", "Oh, that's great. I was hoping to hear from "
                                              "{company}.")),
        Exchange(a=("The base salary is {salary} a year, plus the standard bonus.",
                    "We're offering {salary}, with a review after six months."),
                 b=("{salary}. I was hoping for a bit more, to be honest.",
                    "{salary} sounds fair.")),
        Exchange(a=("The position is based in our {city} office, with two days from home.",
                    "You'd be working with {manager.first}'s team in {city}."),
                 b=("{city} is fine, I'm already planning to move.",
                    "Would I need to be in {city} every week?")),
        Exchange(a=("We'd like you to start on {date}, if that suits you.",
                    "Could you start on {date}?"),
                 b=("That's a little tight, I have a month's notice.", "{date} works for me.")),
        Exchange(a=("HR will send the contract today, along with the benefits summary.",
                    "You'll get an email from our HR team with the paperwork."),
                 b=("Great, I'll look out for it.", "Should I sign it electronically?")),
    ),
    closing=Exchange(
        a=("{so}, {candidate.first}: the {role} offer at {company}, {salary}, starting on {date}."
           " Any other questions?",
           "{ok}, to confirm: {role} at {company}, {salary}, in {city}, from {date}."),
        b=("No, that covers it. {thanks}, and see you on {date}!",
           "Not right now. {thanks}, I'm excited to start on {date}."),
    ),
)

REAL_ESTATE = Domain(
    name="real_estate",
    slots={"buyer": "person", "agent": "person", "agency": "org:realty", "address": "address",
           "price": "price", "date": "date", "time": "time", "city": "city"},
    opening=Exchange(
        a=("{agency}, this is {agent}. How can I help?",
           "{hi}, you've reached {agent.first} at {agency}."),
        b=("{hi}, I'm {buyer}. I'm calling about the house at {address}.",
           "{hi}, my name is {buyer}. Is {address} still available?"),
    ),
    middle=(
        Exchange(a=("Yes, {address} is still on the market. It's listed at {price}.",
                    "It is. The asking price for the {address.street} house is {price}."),
                 b=("{price} is at the top of our budget.", "And is there any room on the "
                                                            "{price}?")),
        Exchange(a=("The sellers have already had one offer, so I wouldn't wait too long.",
                    "It's a three-bedroom with a new roof and a big garden."),
                 b=("Good to know. Is the garden south-facing?", "We'd love to see it soon.")),
        Exchange(a=("I can show it to you on {date} at {time}.",
                    "We have an open house on {date}, starting at {time}."),
                 b=("{date} at {time} works for us.", "{time} is perfect, we'll both be there.")),
        Exchange(a=("Have you spoken to a lender yet?",
                    "Do you have a mortgage agreement in principle?"),
                 b=("Yes, we're pre-approved up to {price}.", "We're meeting the bank next "
                                                              "week.")),
        Exchange(a=("The schools around {address.street} are very good, if that matters to you.",
                    "The train to {city} is a ten-minute walk from there."),
                 b=("That matters a lot, we have two kids.",
                    "That's great for my commute to {city}.")),
    ),
    closing=Exchange(
        a=("{ok}, {buyer.first}. I'll see you at {address} on {date} at {time}.",
           "{so} that's a viewing of {address} on {date}. I'll text you the details, "
           "{buyer.title}."),
        b=("{thanks}, {agent.first}. See you on {address.street} on {date}.",
           "Perfect, {date} it is. {thanks}!"),
    ),
)

DOMAINS = (TECH_SUPPORT, LOGISTICS, HIRING, REAL_ESTATE)
