-- The public name of falcon.watch.store (README, examples): the SDK itself requires that path.
return require "falcon.watch.store"
