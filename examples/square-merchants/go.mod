module github.com/ucoauth/go-ucoauth/examples/square-merchants

go 1.26.0

replace (
	github.com/ucoauth/go-ucoauth => ../..
	github.com/ucoauth/go-ucoauth/internal/testservers => ../../internal/testservers
	github.com/ucoauth/go-ucoauth/tokenstore/redisstore => ../../tokenstore/redisstore
)

require (
	github.com/alicebob/miniredis/v2 v2.40.0
	github.com/redis/go-redis/v9 v9.23.0
	github.com/stretchr/testify v1.12.1
	github.com/ucoauth/go-ucoauth v0.0.0-00010101000000-000000000000
	github.com/ucoauth/go-ucoauth/internal/testservers v0.0.0-00010101000000-000000000000
	github.com/ucoauth/go-ucoauth/tokenstore/redisstore v0.0.0-00010101000000-000000000000
	golang.org/x/oauth2 v0.38.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/yuin/gopher-lua v1.1.1 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
