"""The console's models and adapters: what the screens show and ask for, without widgets."""
