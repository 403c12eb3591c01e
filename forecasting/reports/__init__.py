"""Reports: the HTML page of a run and the plots."""
