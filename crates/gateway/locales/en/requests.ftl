# requests
