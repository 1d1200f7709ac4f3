"""Reports and figures: HTML reports, briefing figures, the logic-model diagram, generated docs."""
