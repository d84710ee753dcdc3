// As in an ember-cli app: the config is read from the page's meta tag, so one build
// serves any relay.
const meta = document.querySelector('meta[name="my-app/config/environment"]');
export default JSON.parse(decodeURIComponent(meta.content));
