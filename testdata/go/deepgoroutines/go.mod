module deepgoroutines

go 1.19
