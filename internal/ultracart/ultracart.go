// Package ultracart holds the names UltraCart's wire defines, shared by
// ucoauth (which speaks it) and ucoauthtest (which fakes it) without making
// them part of either package's API.
package ultracart

// APIVersion is the REST API version ucoauth speaks. UltraCart fails every
// API request that does not carry it in HeaderAPIVersion.
const APIVersion = "2017-03-01"

// Header names UltraCart defines.
const (
	// HeaderAPIVersion carries APIVersion on every API call.
	HeaderAPIVersion = "X-UltraCart-Api-Version"
	// HeaderSimpleKey carries a developer's simple key on OAuth calls.
	HeaderSimpleKey = "X-UltraCart-Simple-Key"
	// HeaderRESTError carries UltraCart's human-readable error message.
	HeaderRESTError = "UC-REST-ERROR"
	// HeaderRESTErrorMerchantID names the merchant an error concerns.
	HeaderRESTErrorMerchantID = "UC-REST-ERROR-MERCHANT-ID"
)

// GrantTypeDeviceCode is the RFC 8628 grant type for polling a device code.
// UltraCart does not document the value; this is the standard one.
const GrantTypeDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
