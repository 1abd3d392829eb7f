"""Command-line entry points: genpo-train, genpo-play, genpo-export."""
