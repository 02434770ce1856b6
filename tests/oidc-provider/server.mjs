// oidc-provider (a certified OpenID provider) for OmaData's end-to-end tests.
// Usage: node server.mjs <port> <redirect_uri>
// Interactions complete without a person: the account is the login_hint, and each
// account authenticates at a fixed level of assurance (acr).
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const [port, redirectUri] = process.argv.slice(2);
if (!port || !redirectUri) {
  console.error('usage: node server.mjs <port> <redirect_uri>');
  process.exit(2);
}

const LOA3 = 'http://ftn.ficora.fi/2017/loa3';
const ACCOUNTS = {
  'oidc-client': { name: 'Olli Oidc', acr: LOA3 },
  'oidc-weak': { name: 'Wilma Weak', acr: 'http://eidas.europa.eu/LoA/low' },
};

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'e2e-rs256', alg: 'RS256', use: 'sig' };

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: 'omadata-e2e',
    redirect_uris: [redirectUri],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [jwk] },
  acrValues: [
    'http://ftn.ficora.fi/2017/loa2',
    LOA3,
    'http://eidas.europa.eu/LoA/substantial',
    'http://eidas.europa.eu/LoA/high',
    'http://eidas.europa.eu/LoA/low',
  ],
  claims: { openid: ['sub'], profile: ['name'] },
  conformIdTokenClaims: false,
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, name: ACCOUNTS[sub]?.name ?? sub }),
  }),
});

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const account = details.params.login_hint;
  if (!ACCOUNTS[account]) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end('unknown test account');
    return;
  }
  const grant = new provider.Grant({ accountId: account, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  const result = {
    login: { accountId: account, acr: ACCOUNTS[account].acr },
    consent: { grantId },
  };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((error) => {
      console.error(error);
      res.writeHead(500);
      res.end();
    });
  } else {
    callback(req, res);
  }
});
server.listen(Number(port), '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});
// End with the test that started us.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
