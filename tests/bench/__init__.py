"""`make bench`: this bot's engine against a stock Rasa 3.6 agent, in one run."""
