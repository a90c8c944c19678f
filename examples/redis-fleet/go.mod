module github.com/ucoauth/go-ucoauth/examples/redis-fleet

go 1.26.0

replace (
	github.com/ucoauth/go-ucoauth => ../..
	github.com/ucoauth/go-ucoauth/tokenstore/redisstore => ../../tokenstore/redisstore
	github.com/ucoauth/go-ucoauth/internal/testservers => ../../internal/testservers
)
