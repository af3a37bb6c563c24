"""Users: accounts, their passwords and the admin API over them."""
