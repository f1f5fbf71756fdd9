"""Long-running work: state machines (literal transition tables) and the runner that drives them."""
