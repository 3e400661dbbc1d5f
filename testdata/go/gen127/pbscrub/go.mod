module pbscrub

go 1.27
