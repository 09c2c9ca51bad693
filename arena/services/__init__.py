"""The workflows every front end calls (CLI, league scheduler, `arena train`, web): written once, here."""
