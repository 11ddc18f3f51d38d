-- The public name of falcon.streams.nginx (README, examples): the SDK itself requires that path.
return require "falcon.streams.nginx"
