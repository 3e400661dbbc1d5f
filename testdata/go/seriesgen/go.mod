module seriesgen

go 1.19
