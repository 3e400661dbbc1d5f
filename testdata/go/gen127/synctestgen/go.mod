module synctestgen

go 1.27
