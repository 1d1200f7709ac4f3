"""The teaching app (Solara): two contexts side by side on common random numbers."""
