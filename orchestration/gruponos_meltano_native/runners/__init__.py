"""How a run's tap and target are started: the standalone pipe and Meltano, and what they print."""
