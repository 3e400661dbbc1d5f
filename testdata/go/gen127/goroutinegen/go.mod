module goroutinegen

go 1.27
