module leaker

go 1.19
