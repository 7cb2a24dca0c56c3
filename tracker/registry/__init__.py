"""Companies, vehicles, terminals, origin sites, disposal yards and no-go zones."""
