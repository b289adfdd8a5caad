"""Domains held out for test-ood: insurance claims, academic research, sports radio."""

from __future__ import annotations

from susurrus.data.synth.script import Domain, Exchange

INSURANCE = Domain(
    name="insurance",
    slots={"holder": "person", "adjuster": "person", "insurer": "org:insurer", "claim": "claim",
           "amount": "money", "date": "date", "city": "city", "car": "car"},
    opening=Exchange(
        a=("{insurer} claims, this is {adjuster.first}. How can I help?",
           "Thank you for calling {insurer}. Are you calling about a new claim?"),
        b=("{hi}, I'm {holder}. Someone hit my {car} in a parking lot in {city} on {date}.",
           "Yes, this is {holder}. My {car} was damaged on {date} and I need to file a claim."),
    ),
    middle=(
        Exchange(a=("I'm sorry to hear that. Was anyone hurt?",
                    "That sounds stressful. Is the {car.short} still drivable?"),
                 b=("No, thankfully. The car was parked.",
                    "It drives, but the back door won't open.")),
        Exchange(a=("I've opened claim {claim} for you.",
                    "Your claim number is {claim}. Please keep it for any calls."),
                 b=("{claim}, let me write that down.", "Could you repeat that? {claim}.")),
        Exchange(a=("The repair estimate you sent is {amount}, and your deductible still applies.",
                    "Our assessor in {city} priced the repair at {amount}."),
                 b=("So you'd cover {amount} minus the deductible?", "{amount} sounds about "
                                                                     "right.")),
        Exchange(a=("Did the other driver leave their details?",
                    "Do you have photos from the day?"),
                 b=("A witness took their license plate.", "Yes, I took pictures of both cars.")),
        Exchange(a=("You can take the {car.short} to any approved garage in {city}.",
                    "We'll arrange a rental car while the {car.short} is in the shop."),
                 b=("That's helpful, thanks.", "Great, I need a car for work.")),
    ),
    closing=Exchange(
        a=("{ok}, {holder.title}. Claim {claim} for your {car} is open, and we'll be in touch "
           "within ten days.",
           "{so} to confirm, claim {claim}, for the incident on {date} in {city}."),
        b=("{thanks}, {adjuster.first}. I'll quote {claim} if I call again.",
           "Perfect. {thanks}, I'll wait to hear about claim {claim}."),
    ),
)

ACADEMIC = Domain(
    name="academic",
    slots={"professor": "person", "student": "person", "collab": "person",
           "lab": "org:institute", "drug": "drug", "percent": "percent", "city": "city",
           "date": "date"},
    opening=Exchange(
        a=("{hi}, {student.first}. It's {professor.dr} from the {lab}. Do you have a minute "
           "about the {drug} paper?",
           "{student.first}, this is {professor.dr}. I read your draft on {drug} last night."),
        b=("Of course. Is it about the deadline on {date}?",
           "Sure. I was hoping to send it to you before {date}."),
    ),
    middle=(
        Exchange(a=("The results look strong. The response rate with {drug} was {percent}, "
                    "right?",
                    "Your table says {percent} for the {drug} group. Is that after the "
                    "dropouts?"),
                 b=("Yes, {percent}, after excluding the two dropouts.",
                    "That's before exclusions. After them it's a little lower.")),
        Exchange(a=("Reviewer two will ask why the sample is so small.",
                    "We need a clearer comparison with the placebo group."),
                 b=("I can add a power analysis in the appendix.",
                    "I'll add a figure for that this week.")),
        Exchange(a=("The workshop in {city} has a good audience for this work.",
                    "I'd like you to present it in {city} if it's accepted."),
                 b=("{city} would be amazing, I've never been.",
                    "I'd love to. Is there travel funding for {city}?")),
        Exchange(a=("{collab} from the {lab.short} group wants to be a co-author.",
                    "Did you ask {collab} about sharing the raw data?"),
                 b=("{collab.first} helped a lot with the analysis, so that's fair.",
                    "I emailed {collab.first} yesterday, no answer yet.")),
        Exchange(a=("Please also cite the earlier {drug} trials in the introduction.",
                    "The discussion should mention the side effects of {drug}."),
                 b=("Will do. I have them in my notes.", "Good point, I missed that.")),
    ),
    closing=Exchange(
        a=("{ok}, so the {drug} paper goes out before {date}, with the {percent} result in the "
           "abstract.",
           "{so}: revise the methods, keep the {drug} result of {percent} in the abstract, and "
           "submit by {date}."),
        b=("Sounds good, {professor.dr}. I'll send a new draft before {date}.",
           "{ok}. {thanks}, I'll have it ready well before {date}."),
    ),
)

SPORTS = Domain(
    name="sports",
    slots={"team1": "org:team", "team2": "org:team", "player": "person", "player2": "person",
           "coach": "person", "score": "score", "city": "city", "date": "date"},
    opening=Exchange(
        a=("{hi} and welcome back. Big result last night: {team1} beat {team2} {score}.",
           "Welcome back. We have to start with that {score} win for {team1} against {team2}."),
        b=("What a game. {player} was everywhere in the second half.",
           "Absolutely. {team1} deserved it, and {player} scored twice."),
    ),
    middle=(
        Exchange(a=("{player.last} has been in incredible form since the trade.",
                    "Is {player.last} the best signing of the season so far?"),
                 b=("Five goals in the last four matches for {player.last}.",
                    "Hard to argue against it, looking at the numbers.")),
        Exchange(a=("{team2} looked tired, especially after the trip from {city}.",
                    "I thought {team2} were unlucky in the first half."),
                 b=("Their coach, {coach}, said as much after the game.",
                    "{coach.last} will not be happy with that defending.")),
        Exchange(a=("{player2} picked up an injury late on. Any news on that?",
                    "The worry for {team1} is the ankle of {player2}."),
                 b=("The club says {player2.last} should be back by {date}.",
                    "Scans are on Monday, but {date} looks optimistic.")),
        Exchange(a=("Next up for {team1} is the trip to {city} on {date}.",
                    "The fixture list is tough: {city} away on {date}."),
                 b=("They haven't won in {city} for years.", "That will be a real test.")),
        Exchange(a=("Let's take some calls. First up is a listener from {city}.",
                    "We've had a lot of messages about that result."),
                 b=("People are already talking about the title.",
                    "Half of them are about {player.last}, I'm guessing.")),
    ),
    closing=Exchange(
        a=("{so}, {team1} are {score} winners, and {player} is the player of the match.",
           "That's {team1} over {team2}, {score}, with two goals for {player.last}."),
        b=("And the next test comes on {date}. Stay with us.",
           "{player.last} will be the name on everyone's lips. We'll be right back."),
    ),
)

DOMAINS = (INSURANCE, ACADEMIC, SPORTS)
