package server

import "github.com/tributary-io/tributary/auth"

// withPrincipals makes connections from each client address (an IP in
// canonical form, say "127.0.0.2") act as that principal, as if they had
// authenticated; any other address is User:ANONYMOUS. Tests dial from a
// chosen loopback address (aclClient) to pick their principal.
func withPrincipals(byHost map[string]auth.Principal) brokerOpt {
	return func(c *Config) { c.principalByHost = byHost }
}

// withAuthorizer turns on Kafka's StandardAuthorizer with super users.
func withAuthorizer(superUsers ...string) brokerOpt {
	return func(c *Config) {
		c.Authorizer = auth.StandardAuthorizerClass
		c.SuperUsers = superUsers
	}
}
