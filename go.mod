module github.com/ucoauth/go-ucoauth

go 1.26.0

require (
	github.com/gofrs/flock v0.13.1
	golang.org/x/oauth2 v0.37.0
)

require golang.org/x/sys v0.48.0 // indirect
