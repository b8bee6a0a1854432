"""Teaching with casebot: the instructor's assignment questions get hints rather than answers, and
guide mode makes every answer such a hint (it points to where the case answers and asks the
student what it says)."""
