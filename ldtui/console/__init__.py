"""The console's models and adapters: what the screens show and ask for, and how hosts are reached, without widgets."""
