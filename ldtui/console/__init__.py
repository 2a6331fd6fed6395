"""The console's models and adapters: what it knows about hosts and how it reaches them, without a screen."""
