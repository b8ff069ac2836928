"""The app's screens, one module each; each builds its controls and refreshes them."""
