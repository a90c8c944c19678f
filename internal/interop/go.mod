module github.com/ucoauth/go-ucoauth/internal/interop

go 1.26.0

replace (
	github.com/ucoauth/go-ucoauth => ../..
)
