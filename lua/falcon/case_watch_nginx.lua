-- The public name of falcon.watch.nginx (README, examples): the SDK itself requires that path.
return require "falcon.watch.nginx"
