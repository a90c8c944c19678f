package ucoauth

// UltraCart's OAuth scopes: a _read and a _write scope for each area.
const (
	ScopeAffiliateRead        = "affiliate_read"
	ScopeAffiliateWrite       = "affiliate_write"
	ScopeAutoOrderRead        = "auto_order_read"
	ScopeAutoOrderWrite       = "auto_order_write"
	ScopeChannelPartnerRead   = "channel_partner_read"
	ScopeChannelPartnerWrite  = "channel_partner_write"
	ScopeChargebackRead       = "chargeback_read"
	ScopeChargebackWrite      = "chargeback_write"
	ScopeCheckoutRead         = "checkout_read"
	ScopeCheckoutWrite        = "checkout_write"
	ScopeConfigurationRead    = "configuration_read"
	ScopeConfigurationWrite   = "configuration_write"
	ScopeConversationRead     = "conversation_read"
	ScopeConversationWrite    = "conversation_write"
	ScopeCouponRead           = "coupon_read"
	ScopeCouponWrite          = "coupon_write"
	ScopeCustomerRead         = "customer_read"
	ScopeCustomerWrite        = "customer_write"
	ScopeFulfillmentRead      = "fulfillment_read"
	ScopeFulfillmentWrite     = "fulfillment_write"
	ScopeGiftCertificateRead  = "gift_certificate_read"
	ScopeGiftCertificateWrite = "gift_certificate_write"
	ScopeIntegrationLogRead   = "integration_log_read"
	ScopeIntegrationLogWrite  = "integration_log_write"
	ScopeOrderRead            = "order_read"
	ScopeOrderWrite           = "order_write"
	ScopeItemRead             = "item_read"
	ScopeItemWrite            = "item_write"
	ScopeStorefrontRead       = "storefront_read"
	ScopeStorefrontWrite      = "storefront_write"
	ScopeTaxRead              = "tax_read"
	ScopeTaxWrite             = "tax_write"
	ScopeWebhookRead          = "webhook_read"
	ScopeWebhookWrite         = "webhook_write"
	ScopeUltrabooksRead       = "ultrabooks_read"
	ScopeUltrabooksWrite      = "ultrabooks_write"
	ScopeUserRead             = "user_read"
	ScopeUserWrite            = "user_write"
	ScopeWorkflowRead         = "workflow_read"
	ScopeWorkflowWrite        = "workflow_write"
)

// allScopes lists every scope, in the order UltraCart documents them.
var allScopes = [...]string{
	ScopeAffiliateRead, ScopeAffiliateWrite,
	ScopeAutoOrderRead, ScopeAutoOrderWrite,
	ScopeChannelPartnerRead, ScopeChannelPartnerWrite,
	ScopeChargebackRead, ScopeChargebackWrite,
	ScopeCheckoutRead, ScopeCheckoutWrite,
	ScopeConfigurationRead, ScopeConfigurationWrite,
	ScopeConversationRead, ScopeConversationWrite,
	ScopeCouponRead, ScopeCouponWrite,
	ScopeCustomerRead, ScopeCustomerWrite,
	ScopeFulfillmentRead, ScopeFulfillmentWrite,
	ScopeGiftCertificateRead, ScopeGiftCertificateWrite,
	ScopeIntegrationLogRead, ScopeIntegrationLogWrite,
	ScopeOrderRead, ScopeOrderWrite,
	ScopeItemRead, ScopeItemWrite,
	ScopeStorefrontRead, ScopeStorefrontWrite,
	ScopeTaxRead, ScopeTaxWrite,
	ScopeWebhookRead, ScopeWebhookWrite,
	ScopeUltrabooksRead, ScopeUltrabooksWrite,
	ScopeUserRead, ScopeUserWrite,
	ScopeWorkflowRead, ScopeWorkflowWrite,
}

// Scopes returns all 40 UltraCart scopes. The slice is a fresh copy.
func Scopes() []string { return append([]string(nil), allScopes[:]...) }
