"""The Rasa side: training data from flows, the flow policy, Babel NLG, the agent."""
