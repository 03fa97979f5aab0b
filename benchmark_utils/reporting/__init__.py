"""From results files to charts, offline HTML pages and a static site."""
