# In English. Plain language: short sentences, speaking to the reader.

service-name = OmaData
skip-to-content = Skip to content
language-menu = Language
signed-in-as = Signed in: { $name } ({ $role })
sign-out = Sign out
to-front-page = To the front page
role-client = client
role-professional = professional
role-auditor = auditor
role-admin = admin

login-rate-limited = Too many attempts
    .text = Signing in has been tried too many times. Wait a moment and try again.
login-unknown-role = Unknown role
    .text = Choose a role on the front page and try again.
login-unknown-prompt = Signing in could not start
    .text = The sign-in address was not valid. Start signing in from the front page.
login-provider-unreachable = Identification is not available now
    .text = The identification service could not be reached. Try again shortly.
login-interrupted = Signing in did not work
    .text = Signing in was interrupted or expired. Start again.
login-not-verified = Signing in did not work
    .text = The identification result could not be verified. Start again.
login-weak-acr = The identification was not strong enough
    .text = OmaData needs strong identification, such as online banking codes or a mobile certificate. Sign in again with a strong method.
login-staff-not-active = You cannot sign in in this role
    .text = Your registration is waiting for the operator's confirmation, or it has been deactivated.
login-not-registered = You are not registered in this role
    .text = Professionals, auditors and admins must be registered by their organisation before they sign in.
