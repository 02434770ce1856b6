# grants
