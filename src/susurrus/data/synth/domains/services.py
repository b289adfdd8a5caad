"""Service calls: pharmacy, restaurant, car repair, banking, travel (in-domain)."""

from __future__ import annotations

from susurrus.data.synth.script import Domain, Exchange

PHARMACY = Domain(
    name="pharmacy",
    slots={"patient": "person", "doctor": "person", "store": "org:pharmacy", "drug": "drug",
           "other": "drug", "dose": "dose", "date": "date", "copay": "money_small"},
    opening=Exchange(
        a=("Thanks for calling {store}, this is the pharmacy. How can I help you today?",
           "{hi}, this is the counter at {store}. What can I do for you?"),
        b=("{hi}, this is {patient}. I'm calling about my refill of {drug}.",
           "Yes, my name is {patient}, and I wanted to check on my {drug} prescription.",
           "{hi}. I'm {patient}, and I need a refill of {drug}, please."),
    ),
    middle=(
        Exchange(a=("{wait}. I have {drug}, {dose}, once a day. Is that the one?",
                    "{ok}, I see {drug} on your profile at {dose}. Is that still right?"),
                 b=("Yes, {dose}. {doctor.dr} kept the same dose at my last visit.",
                    "That's the one, {dose}, prescribed by {doctor.dr}.")),
        Exchange(a=("It looks like {doctor.dr} needs to approve another refill. We faxed the "
                    "office on {date}.",
                    "The refill needs a new approval from {doctor.dr}. We sent the request on "
                    "{date}."),
                 b=("{date}? That's later than I hoped. I only have a few tablets left.",
                    "Oh, {doctor.dr}'s office is usually quick. I have enough until then, "
                    "I think.")),
        Exchange(a=("Are you taking anything else with {drug}? For example {other}?",
                    "Just to be safe, do you also take {other}? It can interact with {drug}."),
                 b=("I take {other} now and then, for headaches. Is that a problem?",
                    "Only {other}, and not every day.")),
        Exchange(a=("With your insurance, the copay for {drug} comes to {copay}.",
                    "{so}, your copay this time is {copay} for a thirty-day supply."),
                 b=("{copay} is fine. Last time it was a bit more.",
                    "Okay, {copay}. Can I pay when I pick it up?")),
        Exchange(a=("Would you like us to text you when the {drug} is ready, {patient.title}?",
                    "Should we send a reminder to your phone when it's ready, {patient.first}?"),
                 b=("Yes, please, a text would be great.",
                    "No need, I'll just come in on {date}.")),
    ),
    closing=Exchange(
        a=("{ok}, {patient.first}. Your {drug}, {dose}, will be ready at {store} on {date}.",
           "{so} that's {drug}, {dose}, for {patient}, ready for pickup on {date}."),
        b=("Perfect, {date} works for me. {thanks}!",
           "{thanks}. I'll come by {store.short} on {date} to pick up the {drug}."),
    ),
)

RESTAURANT = Domain(
    name="restaurant",
    slots={"guest": "person", "place": "org:restaurant", "date": "date", "time": "time",
           "party": "party"},
    opening=Exchange(
        a=("{hi}, {place}, how can I help you?",
           "Thank you for calling {place}. This is the reservations desk."),
        b=("{hi}, I'd like to book a table for {party} on {date}.",
           "Hi, do you have a table for {party} on {date}, in the evening?"),
    ),
    middle=(
        Exchange(a=("{wait}. On {date} we have {time} or a bit later. Would {time} work?",
                    "For {party} on {date}, the first opening is {time}."),
                 b=("{time} is good, yes.",
                    "Hmm, {time} is a little early, but we can make it.")),
        Exchange(a=("Can I have a name for the booking?",
                    "And what name should I put the reservation under?"),
                 b=("It's {guest}.", "Under {guest}, please.")),
        Exchange(a=("Thank you, {guest.title}. Is this for a special occasion?",
                    "Great, {guest.first}. Any allergies we should know about?"),
                 b=("It's my partner's birthday, so a quiet table would be lovely.",
                    "One of us can't have nuts, but that's all.")),
        Exchange(a=("We hold tables for fifteen minutes, so please call if you're running late.",
                    "Just so you know, on {date} we only serve the tasting menu after {time}."),
                 b=("Understood. We'll be there on time.",
                    "That's fine. Is there parking near {place.short}?")),
        Exchange(a=("Would you like the wine list in advance? I can email it to you.",
                    "Can I take a phone number in case anything changes?"),
                 b=("That would be great, thank you.",
                    "Sure, it's the same number I'm calling from.")),
    ),
    closing=Exchange(
        a=("{ok}, {guest.title}, a table for {party} on {date} at {time}. We look forward to "
           "seeing you.",
           "{so} I have you down for {party}, {date} at {time}, here at {place.short}."),
        b=("Wonderful, {time} on {date}. {thanks}!", "{thanks}. See you on {date}."),
    ),
)

CAR_REPAIR = Domain(
    name="car_repair",
    slots={"customer": "person", "mechanic": "person", "garage": "org:garage", "car": "car",
           "cost": "money", "date": "date", "time": "time"},
    opening=Exchange(
        a=("{garage}, {mechanic.first} speaking.",
           "Good morning, {garage}. This is {mechanic.first}, how can I help?"),
        b=("{hi}, this is {customer}. My {car} is making a grinding noise when I brake.",
           "{hi}, it's {customer}. I dropped off my {car} yesterday for the brakes."),
    ),
    middle=(
        Exchange(a=("{ok}, the {car.short}. Is the noise worse when the engine is cold?",
                    "Right, the {car}. When did you first notice the problem?"),
                 b=("Mostly in the morning, and it's been about two weeks.",
                    "About a week ago, after a long drive to the coast.")),
        Exchange(a=("We took a look. The front pads are worn down and the rotors are scored.",
                    "The brake pads are almost gone, and one caliper is sticking."),
                 b=("That doesn't sound cheap. What are we looking at?",
                    "I was afraid of that. How much will it be?")),
        Exchange(a=("Parts and labor come to about {cost}, including tax.",
                    "The estimate is {cost}, and that includes the rotors."),
                 b=("{cost}? Is there anything we can leave for later?",
                    "Okay, {cost} is more than I hoped, but go ahead.")),
        Exchange(a=("We also noticed the {car.short} is due for an oil change. We can do it "
                    "while it's here.",
                    "Your tires are fine, but the {car.short} is overdue for its service."),
                 b=("Sure, add the oil change.", "Let's skip that for now. Just the brakes, "
                                                 "please.")),
        Exchange(a=("The parts come from our supplier, and they should arrive on {date}.",
                    "We're waiting on the rotors. The supplier promised them for {date}."),
                 b=("Can't you get them any sooner?", "{date} is fine, I can take the bus "
                                                      "until then.")),
    ),
    closing=Exchange(
        a=("{ok}, {customer.title}. Your {car} will be ready on {date} after {time}.",
           "{so} the {car} should be done on {date} by {time}. I'll call you if anything "
           "changes."),
        b=("Great, I'll pick it up on {date} after {time}. {thanks}.",
           "{thanks}, {mechanic.first}. See you on {date}."),
    ),
)

BANKING = Domain(
    name="banking",
    slots={"customer": "person", "agent": "person", "bank": "org:bank", "amount": "money_cents",
           "merchant": "org:company", "date": "date", "account": "card"},
    opening=Exchange(
        a=("Thank you for calling {bank}, my name is {agent.first}. How can I help you?",
           "{bank} customer service, this is {agent.first} speaking."),
        b=("{hi}, this is {customer}. There's a charge on my card that I don't recognize.",
           "{hi}, I'm {customer}. I think someone used my card ending in {account}."),
    ),
    middle=(
        Exchange(a=("I can help with that. Can you confirm the last four digits of the card?",
                    "{ok}, for security, what are the last four digits of the card?"),
                 b=("It ends in {account}.", "{account}.")),
        Exchange(a=("Thank you. I see a payment of {amount} to {merchant} on {date}. Is that "
                    "the one?",
                    "On {date} there's a charge of {amount} from {merchant}."),
                 b=("Yes, that's it. I've never heard of {merchant}.",
                    "That's the one. I didn't buy anything for {amount}.")),
        Exchange(a=("I'll block the card ending in {account} right away and order a new one.",
                    "{ok}, I'm freezing the card now so nobody else can use it."),
                 b=("Please do. How long does the new card take?",
                    "Okay. Will my automatic payments still go through?")),
        Exchange(a=("We'll open a dispute, and the {amount} is credited back while we "
                    "investigate.",
                    "While the dispute is open, you'll see a temporary credit of {amount}."),
                 b=("That's a relief.", "Good, because {amount} is most of my rent.")),
        Exchange(a=("Have you shared your card details with anyone recently?",
                    "Did you get any unusual emails or text messages this week?"),
                 b=("No, never.", "Now that you mention it, there was a strange text about a "
                                  "parcel.")),
    ),
    closing=Exchange(
        a=("{ok}, {customer.title}. The card ending in {account} is blocked, and the dispute "
           "for {amount} from {merchant} is open.",
           "{so} to recap, we're disputing {amount} to {merchant} from {date}, and a new card "
           "is on its way."),
        b=("{thanks}, {agent.first}. I'll watch for the refund of {amount} for the {merchant} "
           "charge.",
           "Great. {thanks} for sorting out the {amount} {merchant} charge so quickly."),
    ),
)

TRAVEL = Domain(
    name="travel",
    slots={"traveller": "person", "airline": "org:airline", "origin": "city", "dest": "city",
           "date": "date", "flight": "flight", "fare": "money", "hotel": "org:hotel"},
    opening=Exchange(
        a=("{airline} reservations, how can I help you today?",
           "Thanks for calling {airline}. Who am I speaking with?"),
        b=("{hi}, this is {traveller}. I'd like to change my flight to {dest}.",
           "It's {traveller}. I'm booked to {dest} and I need a different date."),
    ),
    middle=(
        Exchange(a=("{ok}, {traveller.first}. I have you on {flight} from {origin} to {dest}.",
                    "I see your booking, flight {flight} from {origin}."),
                 b=("That's right, {flight}. I'd like to leave on {date} instead.",
                    "Yes. Is there anything on {date}?")),
        Exchange(a=("On {date} there's a morning departure from {origin} with one seat left.",
                    "For {date} I can offer the same flight number, {flight}, at a different "
                    "fare."),
                 b=("The morning one is fine.", "What does that cost?")),
        Exchange(a=("The change fee plus the fare difference comes to {fare}.",
                    "With the fare difference, it's {fare} in total."),
                 b=("{fare}, hmm. Is there a cheaper option?",
                    "{ok}, {fare} works. Please go ahead.")),
        Exchange(a=("Do you still need the hotel in {dest}? Your package includes {hotel}.",
                    "Your booking also has two nights at {hotel} in {dest}."),
                 b=("Yes, please move {hotel} to the new dates too.",
                    "I'll keep {hotel}, but for one night only.")),
        Exchange(a=("Would you like a window or an aisle seat?",
                    "Do you have any bags to check?"),
                 b=("An aisle seat, please.", "Just one bag, and a small carry-on.")),
    ),
    closing=Exchange(
        a=("{so}, {traveller.title}, you're now on {flight} from {origin} to {dest} on {date}.",
           "{ok}, you're confirmed to {dest} on {date}. The confirmation email is on its way."),
        b=("{thanks}! {dest} on {date}, perfect.",
           "Great, {thanks}. So I fly out to {dest} on {date}."),
    ),
)

DOMAINS = (PHARMACY, RESTAURANT, CAR_REPAIR, BANKING, TRAVEL)
