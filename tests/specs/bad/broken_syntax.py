def main(e, c)
  return 1
