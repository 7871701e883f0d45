"""What a run leaves to look at: history, metrics, alerts, the HTML report and its charts."""
