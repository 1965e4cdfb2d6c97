// A real OpenID Provider (panva/oidc-provider) for medinfer's auth tests.
// Binds 127.0.0.1 on an OS-chosen port, prints {"issuer": ...} on stdout once ready,
// and issues RS256 JWT access tokens (client_credentials + resource indicators).
// Clients come from MEDINFER_OIDC_CLIENTS (JSON: [{client_id, client_secret, scope}]).
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const AUDIENCE = process.env.MEDINFER_OIDC_AUDIENCE || 'urn:medinfer:gateway';
const ALL_SCOPES = 'infer models:read models:write audit:read infer:breast_cancer';
const clients = JSON.parse(process.env.MEDINFER_OIDC_CLIENTS || '[]').map((c) => ({
  client_id: c.client_id,
  client_secret: c.client_secret,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
  scope: c.scope,
}));

// Browser logins (authorization code + PKCE, a public client) for the web console's tests, with the
// provider's own development login and consent pages: MEDINFER_OIDC_REDIRECT_URIS (JSON list).
const redirectUris = JSON.parse(process.env.MEDINFER_OIDC_REDIRECT_URIS || '[]');
if (redirectUris.length) {
  clients.push({
    client_id: 'medinfer-console',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: redirectUris,
    token_endpoint_auth_method: 'none',
    scope: 'openid ' + ALL_SCOPES,
  });
}

const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
rsa.kid = 'oidc-rs-' + crypto.randomBytes(4).toString('hex');
rsa.use = 'sig';
rsa.alg = 'RS256';

const server = http.createServer();
server.listen(Number(process.env.MEDINFER_OIDC_PORT || 0), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [rsa] },
    scopes: ['openid', ...ALL_SCOPES.split(' ')],
    pkce: { required: () => true },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    features: {
      devInteractions: { enabled: redirectUris.length > 0 },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: ALL_SCOPES,
          audience: AUDIENCE,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(JSON.stringify({ issuer, audience: AUDIENCE, kid: rsa.kid }) + '\n');
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
